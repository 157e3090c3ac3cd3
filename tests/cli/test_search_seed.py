"""search.seed: a study file without one gets a fresh seed, printed and recorded, so that every
new study tries new configurations and each can still be repeated exactly."""

from __future__ import annotations

import json

from tfcli.spec.load import load_spec_text
from tfcli.tracking import resolve_tracking
from tfcli.tracking.claims import create_study_run

STUDY = """\
name: seeded
task: {type: translation, data: 'builtin:dates'}
search:
  method: random
  num_samples: 6
%s  parameters:
    train.lr: {distribution: log_uniform, min: 1.0e-4, max: 1.0e-2}
    model.d_model: {values: [32, 64, 128]}
"""


def dry_run(cli, tmp_path, seed_line=""):
    path = tmp_path / "s.yaml"
    path.write_text(STUDY % seed_line)
    result = cli("study", "start", str(path), "--dry-run", "--format", "json")
    assert result.exit_code == 0, result.output + result.stderr
    return json.loads(result.stdout), result.stderr


def test_a_study_without_a_seed_draws_one_and_says_how_to_repeat_it(cli, tmp_path):
    first, said = dry_run(cli, tmp_path)
    second, _ = dry_run(cli, tmp_path)
    assert first["search_seed"] != second["search_seed"]
    assert first["first_configs"] != second["first_configs"]
    assert f"seed: {first['search_seed']}" in said and "drawn" in said
    repeated, said_again = dry_run(cli, tmp_path, f"  seed: {first['search_seed']}\n")
    assert repeated["first_configs"] == first["first_configs"] and repeated["search_seed"] == first["search_seed"]
    assert "drawn" not in said_again


def test_the_drawn_seed_is_stored_with_the_study(tmp_path):
    spec = load_spec_text(STUDY % "").with_search_seed()
    assert isinstance(spec.search.seed, int) and spec.with_search_seed().search.seed == spec.search.seed
    tracking = resolve_tracking(f"sqlite:///{tmp_path}/mlflow.db")
    run_id = create_study_run(tracking, spec, "sid", {})
    client = tracking.client()
    assert client.get_run(run_id).data.tags["tfcli.search_seed"] == str(spec.search.seed)
    with open(client.download_artifacts(run_id, "spec.json", str(tmp_path))) as handle:
        stored = json.load(handle)
    assert stored["search"]["seed"] == spec.search.seed
