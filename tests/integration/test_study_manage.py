"""Issue 17: `tfcli study delete | tag | note | best` on one tiny real study (2 trials, 10
steps), run once for the module (and again for a test that finds it deleted), so every test
can run alone or in any order."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.integration.conftest import RANDOM_PARAMETERS, store_client, study_runs, study_text

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

NAME = "manage"
#: A `value` constant besides the searched values: `best` must carry it too (3, not the default 5).
PARAMETERS = RANDOM_PARAMETERS + "\n    train.warmup_steps: {value: 3}"


@pytest.fixture(scope="module")
def module_project(tmp_path_factory, empty_store_db, ray_session):
    """The module's project folder (the commands run from it) and its study file."""
    project = tmp_path_factory.mktemp("manage")
    (project / "mlruns").mkdir()
    shutil.copy(empty_store_db, project / "mlruns" / "mlflow.db")
    (project / "s.yaml").write_text(study_text(NAME, samples=2, steps=10, scheduler="{type: fifo}", parameters=PARAMETERS))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        cache = tmp_path_factory.getbasetemp() / "tfcli-cache"
        cache.mkdir(exist_ok=True)
        patch.setenv("TFCLI_CACHE", str(cache))
        yield project


@pytest.fixture
def managed(module_project, cli):
    """The project of a finished study NAME: run once for the module, and again only when a
    test before this one deleted it (the delete test runs last, on the shared study)."""
    from tfcli.tracking import resolve_tracking, study_record

    if study_record(resolve_tracking(None), NAME) is None:
        result = cli("study", "start", "s.yaml", "--no-baselines")
        assert result.exit_code == 0, result.output + result.stderr
    return module_project


def parent_tags(project) -> dict:
    parents, _ = study_runs(project, NAME)
    assert len(parents) == 1
    return dict(parents[0].data.tags)


def one_line_error(result) -> str:
    assert result.exit_code == 2, result.output + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_best_overrides_give_the_best_trials_spec(managed, cli):
    from tfcli.spec.load import load_spec
    from tfcli.spec.overrides import apply_overrides, parse_set_options
    from tfcli.spec.trial import trial_spec
    from tfcli.study.lifecycle import load_stored_study
    from tfcli.tracking import resolve_tracking

    report = cli("report", NAME, "--format", "json", "--no-importance")
    assert report.exit_code == 0, report.stderr
    winner = json.loads(report.stdout)["ranked"][0]

    shown = cli("study", "best", NAME, "--format", "overrides")
    assert shown.exit_code == 0, shown.stderr
    assert len(shown.stdout.splitlines()) == 1
    tokens = shown.stdout.split()  # what $(tfcli study best NAME --format overrides) gives `tfcli train`
    assert tokens[0::2] == ["--set"] * (len(tokens) // 2) and len(tokens) % 2 == 0
    assert sorted(t.partition("=")[0] for t in tokens[1::2]) == ["model.d_model", "train.lr", "train.warmup_steps"]
    rebuilt = apply_overrides(load_spec(managed / "s.yaml"), parse_set_options(tokens[1::2]))

    _, children = study_runs(managed, NAME)
    best_child = next(c for c in children if c.data.tags["tfcli.trial_id"] == winner["trial_id"])
    stored = load_stored_study(resolve_tracking(None), NAME).spec
    expected = trial_spec(stored, json.loads(best_child.data.tags["tfcli.config"]))
    assert rebuilt.model_dump(mode="json") == expected.model_dump(mode="json")
    assert expected.train.warmup_steps == 3 and expected.train.lr != load_spec(managed / "s.yaml").train.lr

    as_json = json.loads(cli("study", "best", NAME, "--format", "json").stdout)
    assert as_json["trial_id"] == winner["trial_id"] and as_json["value"] == winner["value"]
    assert as_json["run_id"] == best_child.info.run_id
    import yaml

    fragment = yaml.safe_load(cli("study", "best", NAME).stdout)
    flat = {f"{section}.{key}": value for section, values in fragment.items() for key, value in values.items()}
    assert flat == as_json["config"] == parse_set_options(tokens[1::2])


def test_tag_and_note_land_on_the_parent_run(managed, cli):
    tagged = cli("study", "tag", NAME, "team=nlp", "ticket=42", "owner=a=b")
    assert tagged.exit_code == 0, tagged.stderr
    note = "Dates, tiny: a smoke study.\nSecond line."
    noted = cli("study", "note", NAME, note)
    assert noted.exit_code == 0, noted.stderr
    tags = parent_tags(managed)
    assert (tags["team"], tags["ticket"], tags["owner"]) == ("nlp", "42", "a=b")
    assert tags["mlflow.note.content"] == note

    for reserved in ("tfcli.role=x", "mlflow.runName=x", "MLflow.user=x", "best.train.lr=1"):
        line = one_line_error(cli("study", "tag", NAME, "ok=1", reserved))
        assert repr(reserved.partition("=")[0]) in line and "must not start with" in line
    bad = one_line_error(cli("study", "tag", NAME, "no-equals-sign"))
    assert "KEY=VALUE" in bad and "no-equals-sign" in bad
    after = parent_tags(managed)
    assert after["tfcli.role"] == "study" and "ok" not in after and after["mlflow.runName"] == tags["mlflow.runName"]


def test_unknown_study_is_one_line_naming_the_known_ones(managed, cli):
    for command in (["delete", "--yes"], ["tag", "a=b"], ["note", "text"], ["best"]):
        args = [command[0], "nothing-here", *command[1:]]
        line = one_line_error(cli("study", *args))
        assert "'nothing-here'" in line and f"known studies: {NAME}" in line, (args, line)


def test_delete_refuses_without_yes_off_a_terminal_and_while_the_study_runs(managed, cli):
    from tfcli.tracking import resolve_tracking
    from tfcli.tracking.locks import study_lock

    line = one_line_error(cli("study", "delete", NAME))
    assert "--yes" in line and "not a terminal" in line and NAME in line

    with study_lock(resolve_tracking(None), NAME):  # what a running driver holds
        line = one_line_error(cli("study", "delete", NAME, "--yes"))
    assert "running" in line and f"{NAME}.lock" in line

    assert [s["name"] for s in json.loads(cli("study", "list", "--format", "json").stdout)["studies"]] == [NAME]
    assert (managed / "mlruns" / "ray" / NAME).is_dir()


def test_delete_removes_the_study_and_frees_its_name(managed, cli):
    from ray import tune

    from tfcli.spec.load import load_spec
    from tfcli.study.lifecycle import ensure_new_study
    from tfcli.tracking import ensure_experiment, resolve_tracking

    client = store_client(managed)
    experiment = client.get_experiment_by_name(NAME)
    parents, children = study_runs(managed, NAME)
    ray_state = managed / "mlruns" / "ray" / NAME
    assert ray_state.is_dir()

    deleted = cli("study", "delete", NAME, "--yes")
    assert deleted.exit_code == 0, deleted.output + deleted.stderr
    assert f"mlflow experiments restore --experiment-id {experiment.experiment_id}" in deleted.stdout

    assert json.loads(cli("study", "list", "--format", "json").stdout)["studies"] == []
    assert NAME not in {e.name for e in client.search_experiments()}
    assert client.search_runs([experiment.experiment_id]) == []
    gone = client.get_experiment(experiment.experiment_id)
    assert gone.lifecycle_stage == "deleted" and gone.name.startswith(f"{NAME} (deleted ")
    for run in [*parents, *children]:
        assert client.get_run(run.info.run_id).info.lifecycle_stage == "deleted"
    assert not ray_state.exists() and not tune.Tuner.can_restore(str(ray_state))
    again = cli("study", "status", NAME)
    assert again.exit_code == 2 and "no study named" in again.stderr

    # The name is free: what `tfcli study start` checks and creates before Ray runs succeeds.
    tracking = resolve_tracking(None)
    ensure_new_study(load_spec(managed / "s.yaml"), tracking)
    assert ensure_experiment(tracking, NAME) != experiment.experiment_id


def test_set_options_read_back_as_the_same_values():
    from tfcli.errors import ConfigError
    from tfcli.spec.overrides import parse_set_options
    from tfcli.study.manage import set_options

    config = {"train.lr": 1e-05, "train.weight_decay": 0.1, "model.d_model": 32, "model.norm": "post", "train.max_time": None}
    tokens = set_options(config)
    assert tokens[0::2] == ["--set"] * len(config)
    assert parse_set_options(tokens[1::2]) == config
    assert all(type(v) is type(config[k]) for k, v in parse_set_options(tokens[1::2]).items())
    with pytest.raises(ConfigError, match="whitespace"):
        set_options({"model.norm": "two words"})
