"""One tie rule for every "best": the better objective, then the lower validation loss, then
the earlier step. A checkpoint, the live display, the study summary and MLflow's parent run
must name the same winner when two results tie in the objective (BLEU 100 is common)."""

from __future__ import annotations

from types import SimpleNamespace

from rich.console import Console

from tests.study.conftest import make_spec
from tfcli.cli.study_live import StudyLive
from tfcli.records import TrialState
from tfcli.spec.objective import outranks
from tfcli.study.outcome import StudyOutcome, TrialSummary
from tfcli.tracking.ray_trial import best_checkpoint


def test_the_rule():
    assert outranks((2.0, 9.0, 50), (1.0, 0.1, 1), "max")
    assert outranks((1.0, 0.5, 50), (1.0, 0.6, 10), "max")  # tie: lower loss wins
    assert outranks((1.0, 0.5, 10), (1.0, 0.5, 50), "max")  # then the earlier step
    assert not outranks((1.0, 0.5, 10), (1.0, 0.5, 10), "max")
    assert outranks((3.0, 0.5, 10), (3.0, 0.6, 5), "min") and not outranks((4.0, 0.1, 1), (3.0, 0.6, 5), "min")
    assert outranks((1.0, 0.5, None), (1.0, None, 1), "max")  # a missing loss never wins a tie
    assert not outranks((1.0, None, 1), (1.0, 0.5, None), "max")
    assert not outranks((float("nan"), 0.1, 1), None, "max") and outranks((0.0, None, None), None, "max")


def test_a_trials_best_checkpoint_breaks_ties_by_loss_then_step():
    def result(step, bleu, loss):
        return SimpleNamespace(checkpoint=f"ckpt-{step}", metrics={"step": step, "bleu": bleu, "loss": loss})

    manager = SimpleNamespace(_checkpoint_results=[result(10, 100.0, 0.4), result(20, 100.0, 0.3), result(30, 100.0, 0.3)], latest_checkpoint_result=None)
    trial = SimpleNamespace(run_metadata=SimpleNamespace(checkpoint_manager=manager))
    assert best_checkpoint(trial, "bleu", "max") == ("ckpt-20", 100.0, 20, 0.3)


def test_the_live_display_and_the_summary_name_the_same_best_trial():
    live = StudyLive(Console(width=200, record=True), make_spec(), total=2)
    live.on_result("a", {"step": 10, "bleu": 100.0, "loss": 0.9})
    live.on_result("b", {"step": 10, "bleu": 100.0, "loss": 0.2})
    live.on_result("a", {"step": 20, "bleu": 100.0, "loss": 0.1})  # a tie again, now with the lowest loss
    assert live.best() == ("a", 100.0)

    def summary(trial_id, key):
        return TrialSummary(trial_id, TrialState.FINISHED, {}, key[0], 20, 0, None, None, best_key=key)

    outcome = StudyOutcome("s", "/x", "bleu", "max", trials=[summary("b", (100.0, 0.2, 10)), summary("a", (100.0, 0.1, 20))])
    assert outcome.best_trial.trial_id == "a"
