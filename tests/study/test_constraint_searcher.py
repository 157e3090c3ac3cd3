"""``search.constraints`` reach the searcher: each trial's violations on its last result are set
on its Optuna trial before the study is told it (Optuna's ``Trial.set_constraint``), so TPE,
GP and NSGA-II learn which configurations are infeasible, and Optuna's own best is feasible."""

from __future__ import annotations

import math
import pickle

import pytest

from tests.study.conftest import make_spec
from tfcli.study import space
from tfcli.study.ray_internals import optuna_search_study

pytestmark = pytest.mark.timeout(120)

PARAMETERS = {"model.d_model": {"values": [32, 64, 128]}, "train.lr": {"distribution": "log_uniform", "min": 1e-4, "max": 1e-2}}


def _searcher(method, **search):
    spec = make_spec(search={"method": method, "parameters": PARAMETERS, "constraints": ["parameters <= 50000", "loss >= 0"], **search})
    searcher = space.make_searcher(spec, max_concurrent=0)
    return getattr(searcher, "searcher", searcher)


@pytest.mark.parametrize("method", ["tpe", "nsga2"])
def test_the_study_holds_each_trials_violations_after_tell(method):
    searcher = _searcher(method)
    results = [
        {"bleu": 9.0, "parameters": 61234.0, "loss": 1.0},  # the better score, over the limit
        {"bleu": 2.0, "parameters": 40000.0, "loss": 1.5},
        {"bleu": -math.inf, "parameters": 90000.0, "tfcli_infeasible": "parameters <= 50000 (parameters=90000)"},  # refused
        {"bleu": -math.inf, "tfcli_failure": "diverged"},  # a failure's last report carries no costs
    ]
    for index, result in enumerate(results):
        assert searcher.suggest(f"t{index}")
        searcher.on_trial_complete(f"t{index}", {**result, "training_iteration": 1})
    study = optuna_search_study(searcher)
    told = [trial.constraints for trial in study.get_trials()]
    assert told == [
        {"parameters <= 50000": 11234.0, "loss >= 0": -1.0},
        {"parameters <= 50000": -10000.0, "loss >= 0": -1.5},
        {"parameters <= 50000": 40000.0, "loss >= 0": 0.0},
        {"parameters <= 50000": 0.0, "loss >= 0": 0.0},
    ]
    assert [t.state.name for t in study.get_trials()] == ["COMPLETE"] * 4
    assert study.best_trial.number == 1  # Optuna's best is the feasible one, not the higher bleu
    restored = pickle.loads(pickle.dumps(searcher))  # Tune pickles the searcher with the study
    assert restored._tfcli_constraints == searcher._tfcli_constraints
    assert restored.suggest("t9")


def _drawn_small_models(constraints: list[str]) -> int:
    """How often seeded TPE draws d_model 32 in its 10 modelled trials after 20 at random, when a
    larger model scores better and only ``parameters <= 50000`` (d_model 32) makes it feasible."""
    spec = make_spec(search={"method": "tpe", "parameters": PARAMETERS, "constraints": constraints, "seed": 4})
    searcher = space.make_searcher(spec, max_concurrent=0)
    drawn = []
    for index in range(30):
        config = searcher.suggest(f"t{index}")
        parameters = {32: 20000.0, 64: 60000.0, 128: 200000.0}[config["model.d_model"]]
        searcher.on_trial_complete(f"t{index}", {"bleu": parameters / 1000, "parameters": parameters, "training_iteration": 1})
        drawn.append(config["model.d_model"])
    return drawn[20:].count(32)


def test_tpe_learns_the_constraint():
    told, untold = _drawn_small_models(["parameters <= 50000"]), _drawn_small_models([])
    assert told >= 7 and untold <= 3, (told, untold)


def test_earlier_trials_told_as_a_warm_start_name_the_same_constraints():
    spec = make_spec(search={"method": "gp", "parameters": {"train.lr": PARAMETERS["train.lr"]}, "constraints": ["parameters <= 50000"]})
    searcher = space.make_searcher(spec, points_to_evaluate=[{"train.lr": 1e-3}], evaluated_rewards=[5.0], max_concurrent=0)
    inner = getattr(searcher, "searcher", searcher)
    assert [t.constraints for t in optuna_search_study(inner).get_trials()] == [{"parameters <= 50000": 0.0}]
    assert inner.suggest("t0")
    inner.on_trial_complete("t0", {"bleu": 1.0, "parameters": 70000.0, "training_iteration": 1})
    assert inner.suggest("t1")  # GP needs every trial to name the same constraints


def test_the_live_best_and_the_studys_best_are_feasible():
    from rich.console import Console

    from tfcli.cli.study_live import StudyLive
    from tfcli.records import TrialState
    from tfcli.study.outcome import StudyOutcome, TrialSummary
    from tfcli.tracking.summary import study_summary
    from tfcli.tracking.writer import Child

    spec = make_spec(search={"method": "tpe", "parameters": PARAMETERS, "constraints": ["parameters <= 50000"]})
    live = StudyLive(Console(width=200, record=True), spec, total=2)
    live.on_result("big", {"step": 10, "bleu": 40.0, "loss": 0.5, "parameters": 80256.0})
    live.on_result("small", {"step": 10, "bleu": 10.0, "loss": 0.9, "parameters": 10944.0})
    assert live.best() == ("small", 10.0)

    def summary(trial_id, bleu, infeasible=None):
        return TrialSummary(trial_id, TrialState.FINISHED, {}, bleu, 10, 0, None, None, best_key=(bleu, 0.5, 10), infeasible=infeasible)

    outcome = StudyOutcome("s", "/x", "bleu", "max", trials=[summary("big", 40.0, "parameters <= 50000 (parameters=80256)"), summary("small", 10.0)])
    assert outcome.best_trial.trial_id == "small"
    children = [
        Child("big", run_id="r1", state=TrialState.FINISHED, objective_value=40.0, infeasible="parameters <= 50000 (parameters=80256)"),
        Child("small", run_id="r2", state=TrialState.FINISHED, objective_value=10.0),
    ]
    metrics, tags = study_summary(children, spec)
    assert tags["tfcli.best_trial"] == "small" and metrics["best_bleu"] == 10.0
