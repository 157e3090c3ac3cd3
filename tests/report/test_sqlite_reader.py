"""The reports' standard-library read of a local SQLite store gives what MLflow itself gives.

``tfcli report`` reads a local store without importing MLflow (:mod:`tfcli.tracking.sqlite_reader`);
every value it reads is checked here against MLflow's own ``search_runs``,
``get_metric_history`` and artifact downloads on the same store.
"""

from __future__ import annotations

import json
import math
import sqlite3
import subprocess
import sys

import pytest

from tests.report.conftest import synthetic_study

pytestmark = pytest.mark.timeout(300)


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def _assert_same_runs(mlflow_runs, views) -> None:
    assert [r.info.run_id for r in views] == [r.info.run_id for r in mlflow_runs]
    for run, view in zip(mlflow_runs, views):
        assert (view.data.tags, view.data.params) == (run.data.tags, run.data.params)
        assert view.data.metrics.keys() == run.data.metrics.keys()
        assert all(_same(view.data.metrics[k], run.data.metrics[k]) for k in run.data.metrics)
        info = ("run_id", "run_name", "experiment_id", "status", "start_time", "end_time", "lifecycle_stage", "artifact_uri")
        assert {k: getattr(view.info, k) for k in info} == {k: getattr(run.info, k) for k in info}


def _mlflow_search(client, experiment_ids, study_id=None, role="trial", order_by=None):
    query = f"tags.`tfcli.role` = '{role}'" + (f" and tags.`tfcli.study_id` = '{study_id}'" if study_id else "")
    return client.search_runs(experiment_ids, query, order_by=order_by or ["attributes.start_time ASC"], max_results=1000)


@pytest.fixture(scope="module")
def odd_study(real_study):
    """A study in the real store with NaN and infinite values, every status and a deleted run."""
    from mlflow import MlflowClient

    name = "odd-values"
    trials = [
        {"status": "FINISHED", "config": {"train.lr": 0.001}, "history": {"bleu": [(10, 1.0), (20, float("nan"))], "loss": [(10, float("inf"))]}, "objective_value": 1.0, "objective_step": 10},
        {"status": "FAILED", "config": {"train.lr": 0.002}, "history": {"bleu": [(10, float("-inf"))]}, "error": "ValueError: boom"},
        {"status": "RUNNING", "config": {"train.lr": 0.003}, "history": {"bleu": [(10, 2.5), (10, 2.0), (30, 3.0)]}},
        {"status": "KILLED", "config": {"train.lr": 0.004}},
        {"status": "FINISHED", "config": {"train.lr": 0.005}, "history": {"bleu": [(10, 4.0)]}, "objective_value": 4.0, "objective_step": 10},
    ]
    study_id = synthetic_study(real_study.tracking, name, trials)
    client = MlflowClient(real_study.uri)
    experiment = client.get_experiment_by_name(name)
    doomed = _mlflow_search(client, [experiment.experiment_id], study_id)[-1]
    client.delete_run(doomed.info.run_id)
    return name, study_id, experiment.experiment_id


@pytest.fixture(scope="module")
def tied_study(real_study):
    """A study name used twice in one experiment, and trials that tie on start time and value."""
    from mlflow import MlflowClient

    from tfcli import tracking as tr

    name = "tied-study"
    client = MlflowClient(real_study.uri)
    experiment_id = tr.ensure_experiment(real_study.tracking, name, client)
    for study_id, start in (("tied-old", 1_000), ("tied-new", 2_000)):
        tags = {tr.TAG_STUDY_ID: study_id, tr.TAG_STUDY_NAME: name, tr.TAG_ROLE: tr.ROLE_STUDY, tr.TAG_TASK: "translation",
                tr.TAG_OBJECTIVE_METRIC: "bleu", tr.TAG_OBJECTIVE_MODE: "max"}
        parent = client.create_run(experiment_id, run_name=name, start_time=start, tags=tags).info.run_id
        for n in range(4):
            child = client.create_run(experiment_id, run_name=f"t{n}", start_time=5_000, tags={
                tr.TAG_PARENT_RUN: parent, tr.TAG_STUDY_ID: study_id, tr.TAG_STUDY_NAME: name, tr.TAG_ROLE: tr.ROLE_TRIAL,
                tr.TAG_TRIAL_ID: f"{study_id}-t{n}", tr.TAG_OBJECTIVE_VALUE: "1.0", tr.TAG_OBJECTIVE_STEP: "10"})
            client.log_metric(child.info.run_id, "bleu", 1.0, step=10)
            client.set_terminated(child.info.run_id, "FINISHED")
        client.set_terminated(parent, "FINISHED")
    return name


def test_runs_and_histories_match_mlflow_on_a_real_study(real_study):
    from mlflow import MlflowClient

    from tfcli.tracking.sqlite_reader import open_store

    client = MlflowClient(real_study.uri)
    experiment = client.get_experiment_by_name(real_study.name)
    with open_store(real_study.tracking) as store:
        assert store.experiment_id(real_study.name) == experiment.experiment_id
        views = store.runs_tagged([experiment.experiment_id], {"tfcli.role": "trial", "tfcli.study_id": real_study.study_id})
        _assert_same_runs(_mlflow_search(client, [experiment.experiment_id], real_study.study_id), views)
        assert len(views) == 3
        for view in views:
            for key in view.data.metrics:
                expected = sorted(client.get_metric_history(view.info.run_id, key), key=lambda m: (m.step, m.timestamp))
                got = store.metric_history(view.info.run_id, key)
                assert [(s, t) for s, _, t in got] == [(m.step, m.timestamp) for m in expected]
                assert all(_same(v, m.value) for (_, v, _), m in zip(got, expected))
        parents = store.runs_tagged([experiment.experiment_id], {"tfcli.role": "study"}, newest_first=True)
        _assert_same_runs(_mlflow_search(client, [experiment.experiment_id], role="study", order_by=["attributes.start_time DESC"]), parents)


def test_nan_infinity_statuses_and_deleted_runs_read_as_mlflow_reads_them(real_study, odd_study):
    from mlflow import MlflowClient

    from tfcli.tracking.sqlite_reader import open_store

    name, study_id, experiment_id = odd_study
    client = MlflowClient(real_study.uri)
    with open_store(real_study.tracking) as store:
        views = store.runs_tagged([experiment_id], {"tfcli.role": "trial", "tfcli.study_id": study_id})
        _assert_same_runs(_mlflow_search(client, [experiment_id], study_id), views)
        assert len(views) == 4  # the deleted run is left out, as search_runs leaves it out
        assert {v.info.status for v in views} == {"FINISHED", "FAILED", "RUNNING", "KILLED"}
        assert math.isnan(views[0].data.metrics["bleu"]) and views[0].data.metrics["loss"] > 1e308
        for view in views:
            for key in view.data.metrics:
                expected = sorted(client.get_metric_history(view.info.run_id, key), key=lambda m: (m.step, m.timestamp))
                got = store.metric_history(view.info.run_id, key)
                assert len(got) == len(expected) and all(_same(v, m.value) for (_, v, _), m in zip(got, expected))


def test_a_deleted_experiment_is_not_a_study(real_study):
    from mlflow import MlflowClient

    from tfcli import tracking as tr
    from tfcli.errors import StudyError
    from tfcli.tracking.sqlite_reader import open_store

    synthetic_study(real_study.tracking, "deleted-study", [{"status": "FINISHED"}])
    client = MlflowClient(real_study.uri)
    experiment_id = client.get_experiment_by_name("deleted-study").experiment_id
    client.delete_experiment(experiment_id)
    for run in client.search_runs([experiment_id], run_view_type=3):  # ALL: the runs the delete hid
        client.restore_run(run.info.run_id)  # only the experiment's own state now hides the study
    with open_store(real_study.tracking) as store:
        assert store.experiment_id("deleted-study") is None
        assert client.get_experiment_by_name("deleted-study").lifecycle_stage == "deleted"
    assert "deleted-study" not in tr.study_names(real_study.tracking)
    with pytest.raises(StudyError, match="no study named 'deleted-study'"):
        tr.load_study(real_study.tracking, "deleted-study")


def _records_json(records) -> list[str]:
    return [json.dumps(r.to_dict(), default=str, sort_keys=True) for r in records]


def _read_everything(tracking, names, run_ids):
    from tfcli import tracking as tr

    return {
        "load_study": [tr.load_study(tracking, name) for name in names],
        "trial_records": [_records_json(tr.trial_records(tracking, name, history=True)) for name in names],
        "study_record": [tr.study_record(tracking, name) for name in names],
        "list_studies": tr.list_studies(tracking),
        "study_names": tr.study_names(tracking),
        "run_tags": [tr.run_tags(tracking, run_id) for run_id in run_ids],
        "histories": tr.metric_histories(tracking, run_ids, "bleu"),
    }


def test_every_read_is_the_same_through_either_path(real_study, odd_study, tied_study, monkeypatch):
    from tfcli import tracking as tr
    from tfcli.tracking import sources, sqlite_reader

    names = [real_study.name, odd_study[0], tied_study]
    run_ids = [t.run_id for t in tr.load_study(real_study.tracking, odd_study[0]).trials]
    with monkeypatch.context() as direct_only:
        direct_only.setattr(sources._MlflowSource, "__init__", lambda self, tracking: pytest.fail("read through MLflow"))
        fast = _read_everything(real_study.tracking, names, run_ids)
    monkeypatch.setattr(sqlite_reader, "open_store", lambda tracking: None)
    slow = _read_everything(real_study.tracking, names, run_ids)

    for a, b in zip(slow["load_study"], fast["load_study"]):
        assert (a.study, a.tags) == (b.study, b.tags)
        assert _records_json(a.trials) == _records_json(b.trials)
        for x, y in zip(a.trials, b.trials):
            assert x.metrics.keys() == y.metrics.keys() and all(_same(x.metrics[k], y.metrics[k]) for k in x.metrics)
    assert slow["trial_records"] == fast["trial_records"]
    assert any('"best": {"bleu"' in r for r in fast["trial_records"][1])  # histories were read
    for key in ("study_record", "list_studies", "study_names", "run_tags"):
        assert slow[key] == fast[key], key
    assert {s.name for s in fast["list_studies"]} >= set(names)
    tied = fast["load_study"][2]
    assert tied.study.study_id == "tied-new" and len(tied.trials) == 4  # the newer use of the name
    assert [t.run_id for t in tied.trials] == sorted(t.run_id for t in tied.trials)  # equal start times: by run id
    assert fast["study_record"][2].best_trial_id == tied.trials[0].trial_id
    assert slow["histories"].keys() == fast["histories"].keys()
    for run_id in run_ids:
        a, b = slow["histories"][run_id], fast["histories"][run_id]
        assert len(a) == len(b) and all(p[0] == q[0] and _same(p[1], q[1]) for p, q in zip(a, b))


def test_local_artifacts_are_read_as_files_with_the_same_bytes(real_study, tmp_path, monkeypatch):
    from tfcli import tracking as tr
    from tfcli.tracking import sqlite_reader

    trial = tr.load_study(real_study.tracking, real_study.name).trials[0]
    path = f"{tr.CHECKPOINT_ARTIFACT_PATH}/{tr.VALID_OUTPUTS_FILE}"
    local = sqlite_reader.local_artifact(trial.artifact_uri, path)
    assert local is not None and local.is_file()
    fast = tr.download_run_artifact(real_study.tracking, trial.run_id, path, tmp_path / "fast", artifact_uri=trial.artifact_uri)
    monkeypatch.setattr(sqlite_reader, "local_artifact", lambda uri, path: None)
    slow = tr.download_run_artifact(real_study.tracking, trial.run_id, path, tmp_path / "slow", artifact_uri=trial.artifact_uri)
    assert fast.read_bytes() == slow.read_bytes() == local.read_bytes()
    assert tr.download_run_artifact(real_study.tracking, trial.run_id, "no/such/file", tmp_path / "none", artifact_uri=trial.artifact_uri) is None


def test_stores_the_reader_does_not_know_go_to_mlflow(tmp_path, monkeypatch, real_study):
    from tfcli import tracking as tr
    from tfcli.tracking.sqlite_reader import local_artifact, open_store

    assert open_store(tr.resolve_tracking("http://127.0.0.1:5999")) is None
    assert open_store(tr.resolve_tracking(f"sqlite:///{tmp_path / 'absent.db'}")) is None
    assert not (tmp_path / "absent.db").exists()
    sqlite3.connect(tmp_path / "other.db").execute("CREATE TABLE runs (run_uuid TEXT)").connection.commit()
    assert open_store(tr.resolve_tracking(f"sqlite:///{tmp_path / 'other.db'}")) is None
    monkeypatch.setenv("MLFLOW_ENABLE_WORKSPACES", "true")
    assert open_store(real_study.tracking) is None
    assert local_artifact("mlflow-artifacts:/1/abc/artifacts", "checkpoint") is None
    assert local_artifact("s3://bucket/1/abc/artifacts", "checkpoint") is None
    assert local_artifact("file://otherhost/tmp/artifacts", "checkpoint") is None
    assert local_artifact("relative/artifacts", "checkpoint") is None
    assert local_artifact("/tmp/artifacts", "checkpoint/../../../etc/passwd") is None
    assert str(local_artifact("file:///tmp/a%20b/artifacts", "/checkpoint/x")) == "/tmp/a b/artifacts/checkpoint/x"
    assert str(local_artifact("/tmp/x%41y/artifacts", "checkpoint")) == "/tmp/xAy/artifacts/checkpoint"  # as MLflow decodes it


def _store_copy(real_study, tmp_path, sql: str):
    from tfcli import tracking as tr

    copy = tmp_path / "copy" / "mlflow.db"
    copy.parent.mkdir()
    with sqlite3.connect(real_study.tracking.sqlite_path) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    with sqlite3.connect(copy) as db:
        db.execute(sql)
    return tr.resolve_tracking(f"sqlite:///{copy}")


def test_only_schema_revisions_checked_against_mlflow_are_read_directly(real_study, tmp_path):
    from tfcli.tracking.sqlite_reader import VERIFIED_SCHEMAS, open_store

    with sqlite3.connect(real_study.tracking.sqlite_path) as db:
        (revision,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
    assert revision in VERIFIED_SCHEMAS, (
        f"the installed MLflow writes schema revision {revision}: run this file's comparisons with it, "
        "then add the revision to tfcli.tracking.sqlite_reader.VERIFIED_SCHEMAS"
    )
    newer = _store_copy(real_study, tmp_path, "UPDATE alembic_version SET version_num = 'ffffffffffff'")
    assert open_store(newer) is None


def test_the_mlflow_range_allowed_is_the_range_whose_schema_is_verified():
    """pyproject.toml's mlflow range admits the installed MLflow, whose migrations' head is a
    verified revision; widen the range only with the revisions of the versions it adds."""
    import tomllib
    from importlib import metadata
    from pathlib import Path

    import mlflow
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from packaging.requirements import Requirement

    from tfcli.tracking.sqlite_reader import VERIFIED_SCHEMAS

    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text(encoding="utf-8"))
    (pin,) = [Requirement(r) for r in pyproject["project"]["dependencies"] if Requirement(r).name == "mlflow"]
    installed = metadata.version("mlflow")
    assert pin.specifier.contains(installed), f"MLflow {installed} is installed, outside pyproject.toml's {pin}"
    config = Config()
    config.set_main_option("script_location", str(Path(mlflow.__file__).parent / "store" / "db_migrations"))
    heads = ScriptDirectory.from_config(config).get_heads()
    assert len(heads) == 1 and heads[0] in VERIFIED_SCHEMAS, (
        f"MLflow {installed} migrates to schema revision {heads}, not one this reader was verified "
        f"against ({sorted(VERIFIED_SCHEMAS)}): run this file's comparisons on it, then add it to "
        "tfcli.tracking.sqlite_reader.VERIFIED_SCHEMAS, with the version, and widen the pin"
    )


def test_a_store_with_experiments_in_other_workspaces_is_left_to_mlflow(real_study, tmp_path):
    from tfcli.tracking.sqlite_reader import open_store

    assert open_store(real_study.tracking) is not None
    shared = _store_copy(real_study, tmp_path, "UPDATE experiments SET workspace = 'team' WHERE experiment_id = (SELECT MAX(experiment_id) FROM experiments)")
    assert open_store(shared) is None


def test_an_unusable_store_path_is_one_clear_line(cli):
    done = cli("study", "list", "--tracking-uri", f"sqlite:////tmp/{'x' * 300}/mlflow.db")
    assert done.exit_code == 2, done.stdout + done.stderr
    assert done.stderr.startswith("error: the tracking store's folder must be writable") and "File name too long" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("command", ["report", "study list", "study status"])
def test_read_only_commands_on_a_local_store_do_not_import_mlflow(real_study, command):
    args = command.split() + ([] if command == "study list" else [real_study.name]) + ["--tracking-uri", real_study.uri, "-f", "json"]
    code = (
        "import sys\n"
        "from tfcli.cli import app\n"
        f"app({args!r}, standalone_mode=False)\n"
        "print('MLFLOW' if any(m == 'mlflow' or m.startswith('mlflow.') for m in sys.modules) else 'NO-MLFLOW', file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "NO-MLFLOW"
    output = json.loads(done.stdout)
    if command == "report":
        assert len(output["ranked"]) == 3 and output["significance"] and output["importance"]
    elif command == "study list":
        assert real_study.name in {s["name"] for s in output["studies"]}
    else:
        assert len(output["trials"]) == 3


def test_a_locked_database_is_one_clear_error_not_a_traceback(real_study, monkeypatch):
    from tfcli.errors import StudyError
    from tfcli.tracking import sqlite_reader

    monkeypatch.setattr(sqlite_reader, "_BUSY_TIMEOUT_S", 0.2)
    store = sqlite_reader.open_store(real_study.tracking)
    writer = sqlite3.connect(real_study.tracking.sqlite_path, timeout=0.2, isolation_level=None)
    try:
        writer.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StudyError, match=r"the tracking database must be readable, but reading .*mlflow\.db failed \(database is locked\)"):
            store.experiment_id(real_study.name)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
        store.close()
    with sqlite_reader.open_store(real_study.tracking) as store:
        assert store.experiment_id(real_study.name) is not None


def test_reading_a_store_that_does_not_exist_creates_nothing(cli, tmp_path):
    uri = f"sqlite:///{tmp_path / 'typo' / 'mlflow.db'}"
    listed = cli("study", "list", "--tracking-uri", uri, "--format", "json")
    assert listed.exit_code == 0, listed.stderr
    assert json.loads(listed.stdout)["studies"] == []
    for args in (("report", "some-study"), ("study", "status", "some-study")):
        done = cli(*args, "--tracking-uri", uri)
        assert done.exit_code == 2 and "no study named 'some-study'" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr + done.stdout
    assert not (tmp_path / "typo").exists()
