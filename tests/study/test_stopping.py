"""The study's stopper (budget.target, budget.patience) on its own: what ends a study, and how
``extend`` carries the study's earlier trials into it. End to end: tests/integration/test_study_stopping.py."""

from __future__ import annotations

import dataclasses

from tests.study.conftest import make_spec
from tfcli.records import TrialRecord, TrialStatus
from tfcli.records.state import STOPPED_BY_PATIENCE, STOPPED_BY_TARGET
from tfcli.study.stopping import study_stopper


def _result(bleu, loss, step=10, **more):
    return {"bleu": bleu, "loss": loss, "step": step, **more}


def test_no_budget_no_stopper():
    assert study_stopper(make_spec()) is None


def test_a_target_ends_the_study_in_the_metrics_direction():
    heard = []
    stopper = study_stopper(make_spec(budget={"target": {"metric": "ter", "value": 40}}))
    stopper.listeners.append(lambda reason, note: heard.append((reason, note)))
    assert stopper("a", _result(10, 3.0, ter=55.0)) is False and not stopper.stop_all()
    assert stopper("a", _result(10, 3.0, ter=float("nan"))) is False and not stopper.stop_all()
    stopper("b", _result(10, 3.0, step=20, ter=40.0))  # ter is minimised: 40 reaches 40
    assert stopper.stop_all() and stopper.reason == STOPPED_BY_TARGET
    assert heard == [(STOPPED_BY_TARGET, "target ter <= 40 reached (40 at step 20, trial b)")]


def test_a_failure_report_never_reaches_a_target():
    stopper = study_stopper(make_spec(objective={"metric": "loss", "mode": "min"}, budget={"target": {"metric": "loss", "value": 1}}))
    stopper("a", {"loss": float("-inf"), "step": 10, "tfcli_failure": "diverged"})
    assert not stopper.stop_all()


def test_patience_counts_trials_in_a_row_without_a_better_best_by_the_one_ranking():
    stopper = study_stopper(make_spec(budget={"patience": 2}))
    stopper("a", _result(20.0, 2.0))
    stopper.trial_ended("a")  # the first best
    stopper("b", _result(20.0, 1.5))
    stopper.trial_ended("b")  # a tie on BLEU, lower loss: better (Objective.outranks)
    stopper("c", _result(19.0, 1.0))
    stopper.trial_ended("c")
    stopper.trial_ended("d")  # failed or stopped before any result: not better
    assert stopper.stop_all() and stopper.reason == STOPPED_BY_PATIENCE
    assert stopper.note == "patience: 2 trials in a row ended without a better bleu; best bleu 20"


def _record(trial_id, bleu, state_status=TrialStatus.FINISHED):
    return TrialRecord(study="tiny", study_id="s", run_id=trial_id, trial_id=trial_id, status=state_status,
                       metrics={"bleu": bleu, "loss": 1.0}, objective_metric="bleu", objective_value=bleu, objective_step=10)


def test_extend_counts_patience_from_the_extension_against_the_studys_best_and_skips_a_reached_target():
    spec = make_spec(budget={"patience": 1, "target": {"metric": "bleu", "value": 30}})
    stopper = study_stopper(spec, [_record("old1", 35.0), _record("old2", 10.0)])
    assert stopper.target is None  # reached before the extension: the extension runs its trials
    stopper("new", _result(34.0, 0.5))
    stopper.trial_ended("new")  # not better than the earlier 35
    assert stopper.reason == STOPPED_BY_PATIENCE
    unreached = study_stopper(spec, [_record("old", 20.0)])
    unreached("new", _result(31.0, 0.5))
    assert unreached.reason == STOPPED_BY_TARGET


def test_an_infeasible_result_reaches_no_target_and_is_no_better_best():
    spec = make_spec(search={"method": "tpe", "constraints": ["parameters <= 50000"]}, budget={"patience": 1, "target": {"metric": "bleu", "value": 30}})
    stopper = study_stopper(spec, [_record("old", 5.0), dataclasses.replace(_record("big", 40.0), infeasible="parameters <= 50000 (parameters=80256)")])
    assert stopper.target is not None and stopper.best[0] == 5.0  # the infeasible 40 neither reached it nor is the best
    stopper("a", _result(35.0, 0.5, parameters=80256.0))  # over the limit: not a measurement of a configuration to keep
    assert not stopper.stop_all()
    stopper.trial_ended("a")
    assert stopper.reason == STOPPED_BY_PATIENCE and stopper.note.endswith("best bleu 5")
