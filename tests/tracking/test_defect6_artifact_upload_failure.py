"""Issue 16, defect 6: an artifact upload that fails mid-study is lost work, never a FINISHED run.

The study callback is driven directly (no Ray), against a real MLflow store, with the trial
run's artifact folder made unwritable after the run exists: read-only (as the issue did it;
root ignores permissions, so that case is skipped where they are ignored) or blocked by a file where the
folder must go (which stops root too).
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tfcli import tracking as tr
from tfcli.study.outcome import StudyOutcome
from tfcli.tracking.callback import StudyTracker
from tests.tracking import test_tracking as base
from tests.tracking.test_tracking import FakeTrial, artifacts, drive, make_spec, runs_of

# the fixtures of test_tracking: a fresh local store in tmp_path, copied from a migrated one
_empty_store_db = base._empty_store_db
store = base.store

STEPS = [10, 20, 30, 40, 50]  # make_spec: max_steps 50, so the trial runs to its end


def _run_folder(store, run_id: str) -> Path:
    uri = store.client().get_run(run_id).info.artifact_uri
    return Path(uri.removeprefix("file://"))


def _make_unwritable(folder: Path, how: str) -> None:
    """The run's artifact folder can no longer be written (the run itself exists).

    Only this run's folder: a read-only experiment folder would fail every trial's upload
    alike, and the test shows that the other trial's upload still works.
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    if how == "read_only":
        folder.parent.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)
    else:
        folder.write_text("a file where the run's artifact folder must go")


def _writable_again(folder: Path) -> None:
    folder.parent.chmod(stat.S_IRWXU)


def _ignores_permissions(probe: Path) -> bool:
    """Whether this process can write into a read-only folder (root with CAP_DAC_OVERRIDE)."""
    probe.mkdir()
    probe.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        (probe / "x").write_text("x")
        return True
    except PermissionError:
        return False
    finally:
        probe.chmod(stat.S_IRWXU)


def _start(tracker, *trials) -> dict:
    for trial in trials:
        tracker.on_trial_start(trial=trial)
    assert tracker._writer.flush(30)
    return {t.trial_id: tracker._children[t.trial_id].run_id for t in trials}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("how", ["read_only", "blocked"])
def test_a_checkpoint_that_cannot_be_stored_fails_the_trial_with_the_reason(store, tmp_path, how):
    if how == "read_only" and _ignores_permissions(tmp_path / "probe"):
        pytest.skip("this user writes into read-only folders (root); the 'blocked' case covers it")
    tracker = StudyTracker(store, make_spec("lost-ckpt"), "study-lost")
    tracker.setup()
    good, bad = FakeTrial("l_00000", {}), FakeTrial("l_00001", {})
    run_ids = _start(tracker, good, bad)
    folder = _run_folder(store, run_ids[bad.trial_id])
    _make_unwritable(folder, how)
    try:
        for trial in (good, bad):
            drive(tracker, trial, STEPS, tmp_path)
            tracker.on_trial_complete(trial=trial)
        tracker.on_experiment_end(trials=[good, bad])
    finally:
        if how == "read_only":
            _writable_again(folder)

    runs = {r.data.tags[tr.TAG_TRIAL_ID]: r for r in runs_of(store, "lost-ckpt", "trial")}
    lost = runs[bad.trial_id]
    assert lost.info.status == "FAILED"
    reason = lost.data.tags[tr.TAG_ERROR]
    assert reason.startswith("its checkpoint could not be stored (") and "\n" not in reason
    assert ("PermissionError" if how == "read_only" else "Error") in reason
    # the database still took the objective: the trial's result is not lost with its checkpoint
    assert lost.data.tags[tr.TAG_OBJECTIVE_VALUE] == repr(5.0)
    assert lost.data.tags[tr.TAG_OBJECTIVE_STEP] == "50"
    assert tr.TAG_CHECKPOINT not in lost.data.tags

    kept = runs[good.trial_id]
    assert kept.info.status == "FINISHED" and tr.TAG_ERROR not in kept.data.tags
    assert kept.data.tags[tr.TAG_CHECKPOINT] == tr.CHECKPOINT_ARTIFACT_PATH
    assert "model.safetensors" in artifacts(store, kept.info.run_id, tr.CHECKPOINT_ARTIFACT_PATH)

    (line,) = tracker.lost_work
    assert line.startswith(f"trial {bad.trial_id} (run {lost.info.run_id}): its checkpoint could not be stored (")
    assert "\n" not in line
    assert store.client().get_run(tracker.parent_run_id).info.status == "FINISHED"


class _FailingClient:
    """An MLflow client whose ``set_terminated`` fails for one run: a final record not written."""

    def __init__(self, client, run_id: str):
        self._client, self._run_id = client, run_id

    def set_terminated(self, run_id, status=None, end_time=None):
        if run_id == self._run_id:
            raise OSError("database is locked")
        return self._client.set_terminated(run_id, status, end_time)

    def __getattr__(self, name):
        return getattr(self._client, name)


@pytest.mark.timeout(120)
def test_a_final_record_that_cannot_be_written_is_lost_work(store, tmp_path):
    tracker = StudyTracker(store, make_spec("lost-end"), "study-lost-end")
    tracker.setup()
    trial = FakeTrial("m_00000", {})
    run_id = _start(tracker, trial)[trial.trial_id]
    tracker._writer.client = _FailingClient(tracker._writer.client, run_id)
    drive(tracker, trial, STEPS, tmp_path)
    tracker.on_trial_complete(trial=trial)
    tracker.on_experiment_end(trials=[trial])

    (line,) = tracker.lost_work
    assert line == (
        f"trial {trial.trial_id} (run {run_id}): its final status FINISHED could not be written "
        "(OSError: database is locked)"
    )
    run = store.client().get_run(run_id)
    assert run.info.status == "RUNNING"  # what the store now says, and why the line is needed
    assert run.data.tags[tr.TAG_CHECKPOINT] == tr.CHECKPOINT_ARTIFACT_PATH  # the rest was written


@pytest.mark.timeout(60)
def test_lost_work_is_runtime_state_and_the_outcome_field_defaults_to_empty(store):
    import pickle

    tracker = StudyTracker(store, make_spec("lost-pickle"), "study-lost-pickle")
    tracker.lost_work.append("trial x: lost")
    again = pickle.loads(pickle.dumps(tracker))
    assert again.lost_work == []  # a restored callback starts a new session with nothing lost
    outcome = StudyOutcome(name="n", experiment_path="p", metric="bleu", mode="max")
    assert outcome.lost_work == []
    assert StudyOutcome("n", "p", "bleu", "max", [], False, 1.0, ["trial x: lost"]).lost_work == ["trial x: lost"]


@pytest.mark.timeout(30)
def test_defect6_a_study_with_lost_work_exits_1_and_names_it():
    """The CLI's end of a study: lost work is printed and the exit status is 1, not 0."""
    import typer
    from rich.console import Console

    from tfcli.cli.study import EXIT_TRIALS_FAILED, _finish
    from tfcli.study.outcome import StudyOutcome

    screen = Console(record=True, width=200)
    lost = StudyOutcome(name="s", experiment_path="/x", metric="bleu", mode="max", lost_work=["trial a_00000 (run r): its checkpoint could not be stored"])
    with pytest.raises(typer.Exit) as ended:
        _finish(lost, "s", screen)
    assert ended.value.exit_code == EXIT_TRIALS_FAILED
    assert "not recorded: trial a_00000 (run r): its checkpoint could not be stored" in screen.export_text()
    _finish(StudyOutcome(name="s", experiment_path="/x", metric="bleu", mode="max"), "s", Console(record=True))
