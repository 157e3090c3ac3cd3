"""The one trial-state vocabulary: five words every view prints, MLflow's statuses beside them."""

from __future__ import annotations

from tfcli.records import TrialRecord, TrialState, TrialStatus, recorded_state


def test_the_mlflow_side_reads_as_before():
    assert [s.value for s in TrialStatus.mlflow_statuses()] == ["RUNNING", "FINISHED", "FAILED", "KILLED"]
    assert TrialStatus.from_mlflow("FINISHED") is TrialStatus.FINISHED
    assert TrialStatus.from_mlflow("SCHEDULED") is TrialStatus.RUNNING
    assert TrialStatus.from_mlflow("STOPPED") is TrialStatus.RUNNING  # not an MLflow status
    assert not TrialStatus.RUNNING.is_done and TrialStatus.KILLED.is_done


def test_every_state_maps_to_an_mlflow_status():
    expected = {
        TrialState.RUNNING: TrialStatus.RUNNING,
        TrialState.FINISHED: TrialStatus.FINISHED,
        TrialState.STOPPED: TrialStatus.FINISHED,
        TrialState.FAILED: TrialStatus.FAILED,
        TrialState.KILLED: TrialStatus.KILLED,
    }
    assert {s: s.mlflow for s in TrialState} == expected
    assert all(s.mlflow in TrialStatus.mlflow_statuses() for s in TrialState)


def test_done_failure_and_the_printed_words():
    done = {s for s in TrialState if s.is_done}
    assert done == {TrialState.FINISHED, TrialState.STOPPED, TrialState.FAILED, TrialState.KILLED}
    assert {s for s in TrialState if s.is_failure} == {TrialState.FAILED}
    assert {s for s in TrialState if s.is_final} == {TrialState.FINISHED, TrialState.STOPPED, TrialState.FAILED}
    assert [s.label for s in TrialState] == ["running", "finished", "stopped", "failed", "killed"]


def test_one_set_of_state_words_for_every_view():
    """running, finished, stopped, failed, killed; a FINISHED run with the stopped-early tag is stopped."""
    assert [s.value for s in TrialState] == ["running", "finished", "stopped", "failed", "killed"]
    assert {s: recorded_state(s.value) for s in TrialStatus} == {
        TrialStatus.RUNNING: TrialState.RUNNING,
        TrialStatus.FINISHED: TrialState.FINISHED,
        TrialStatus.FAILED: TrialState.FAILED,
        TrialStatus.KILLED: TrialState.KILLED,
    }
    assert recorded_state("FINISHED", stopped_early=True) is TrialState.STOPPED
    assert recorded_state("KILLED", stopped_early=True) is TrialState.KILLED
    record = TrialRecord(study="s", study_id="i", trial_id="t", run_id="r", status=TrialStatus.FINISHED, stopped_early=True)
    assert record.state is TrialState.STOPPED and record.to_dict()["state"] == "stopped"


def test_the_live_display_prints_the_state_words():
    from rich.console import Console

    from tests.study.conftest import make_spec
    from tfcli.cli.study_live import StudyLive

    screen = Console(width=200, record=True)
    live = StudyLive(screen, make_spec(), total=3)
    live.on_result("t1", {"step": 10, "bleu": 5.0})
    live.on_trial_state("t1", TrialState.STOPPED)
    live.on_trial_state("t2", TrialState.FAILED, None, "RuntimeError: boom")
    live.on_trial_state("t3", TrialState.RUNNING, None, "RuntimeError: retried")
    screen.print(live.render())
    text = screen.export_text()
    assert "2/3 trials done" in text and "best bleu 5.000 (t1)" in text
    assert "stopped" in text and "failed" in text and "running" in text
    assert not any(word in text for word in ("STOPPED", "errored", "retrying", "unfinished"))
    assert {trial["state"].label for trial in live.trials.values()} == {"stopped", "failed", "running"}


def test_defect10_a_resumed_study_shows_its_finished_trials_with_their_configurations():
    from rich.console import Console

    from tests.study.conftest import make_spec
    from tfcli.cli.study_live import StudyLive
    from tfcli.records import TrialRecord

    def record(trial_id, status, lr, value, stopped=False):
        return TrialRecord(study="tiny", study_id="s", trial_id=trial_id, run_id=trial_id, status=status,
                           config={"train.lr": lr}, objective_value=value, last_step=40, stopped_early=stopped)

    spec = make_spec(search={"parameters": {"train.lr": {"distribution": "log_uniform", "min": 1e-4, "max": 1e-2}}})
    screen = Console(width=200, record=True)
    live = StudyLive(screen, spec, total=4)
    live.show_records([
        record("t1", TrialStatus.FINISHED, 0.001, 12.5),
        record("t2", TrialStatus.FINISHED, 0.002, 3.0, stopped=True),
        record("t3", TrialStatus.KILLED, 0.003, None),
    ])
    live.on_trial_state("t3", TrialState.RUNNING)
    screen.print(live.render())
    text = screen.export_text()
    assert "2/4 trials done" in text and "best bleu 12.500 (t1)" in text
    assert "0.001" in text and "0.002" in text and "stopped" in text
    assert "ETA -" in text, "no trial ended in this session yet: no rate to estimate from"
