"""`scheduler: hyperband` under a concurrency limit below the trial count stops no trial in Ray
Tune (its brackets wait on paused trials that the limit still counts), so tfcli refuses it: in
the study file with FILE:LINE, and for `--max-concurrent` or a grid's full trial count before
anything is written to the store."""

from __future__ import annotations

import pytest

from tfcli.spec.rules import lockstep_problem

pytestmark = pytest.mark.timeout(120)

STUDY = """\
name: hb
task: {{type: translation, data: 'builtin:dates'}}
train: {{max_steps: 20, eval_every: 10}}
search:
  method: {method}
  num_samples: {samples}
{limit}  parameters:
    train.lr: {{values: [1.0e-3, 2.0e-3, 3.0e-3]}}
scheduler: {{type: hyperband}}
"""


def write(tmp_path, *, method="random", samples=4, limit=None):
    path = tmp_path / "hb.yaml"
    line = f"  max_concurrent: {limit}\n" if limit else ""
    path.write_text(STUDY.format(method=method, samples=samples, limit=line))
    return path


def stored_studies(tmp_path):
    from tfcli.tracking import resolve_tracking

    client = resolve_tracking(None, cwd=tmp_path).client()
    return [e.name for e in client.search_experiments() if e.name == "hb"]


def test_the_rule():
    assert lockstep_problem("hyperband", 2, 16) and "so it would stop none" in lockstep_problem("hyperband", 2, 16)
    assert lockstep_problem("hyperband", 16, 16) is None
    assert lockstep_problem("hyperband", None, 16) is None
    assert lockstep_problem("asha", 2, 16) is None


def test_the_study_file_is_refused_at_its_line(cli, tmp_path):
    path = write(tmp_path, limit=2)
    result = cli("study", "validate", path)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"{path}:7: search.max_concurrent: hyperband halves a bracket"), result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_an_override_and_a_grid_are_refused_before_the_store_is_touched(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    path = write(tmp_path)
    override = cli("study", "start", path, "--max-concurrent", "2", "--no-baselines")
    assert override.exit_code == 2, override.output
    (line,) = [l for l in override.stderr.splitlines() if l.strip()][-1:]
    assert line.startswith("error: --max-concurrent 2: hyperband halves a bracket"), override.stderr
    assert "(2, fewer than the 4 trials)" in line

    # 3 grid points x 1 sample: the file's limit 2 is not below num_samples, but below the 3 trials.
    grid = write(tmp_path, method="grid", samples=1, limit=2)
    assert cli("study", "validate", grid).exit_code == 0
    refused = cli("study", "start", grid, "--no-baselines")
    assert refused.exit_code == 2, refused.output
    assert f"{grid}: search.max_concurrent: hyperband" in refused.stderr and "the 3 trials" in refused.stderr, refused.stderr
    assert stored_studies(tmp_path) == [], "a refused study left an experiment in the store"

    # At the trial count, the limit no longer holds HyperBand back: the dry run accepts it.
    assert cli("study", "start", write(tmp_path, limit=4), "--dry-run").exit_code == 0
