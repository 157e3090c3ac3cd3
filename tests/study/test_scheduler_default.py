"""Early stopping right by default: under an objective that is flat early (BLEU is 0 for every
trial at the first rung), ASHA and HyperBand act on the validation loss unless
``scheduler.metric`` says otherwise; PBT, FIFO and other objectives keep the objective."""

from __future__ import annotations

import pytest

from tests.study.conftest import make_spec
from tfcli.spec.describe import scheduler_summary
from tfcli.study import runner


def _built_scheduler(spec):
    """The Tune scheduler the runner builds, given the metric the way Tune gives it at ``fit()``."""
    config = runner._tune_config(spec, num_samples=None, max_concurrent=None, points_to_evaluate=None,
                                 evaluated_rewards=None, rerun=None)
    scheduler = config.scheduler
    assert scheduler.set_search_properties(config.metric, config.mode)
    return scheduler, config.mode


@pytest.mark.parametrize("kind", ["asha", "hyperband"])
@pytest.mark.parametrize("objective", ["bleu", "chrf", "ter", "meteor"])
def test_asha_and_hyperband_on_a_generation_metric_act_on_loss(kind, objective):
    spec = make_spec(scheduler={"type": kind}, objective={"metric": objective}, search={"max_concurrent": None})
    scheduler, mode = _built_scheduler(spec)
    assert (scheduler.metric, mode) == ("loss", "min")
    assert spec.primary_objective.metric == objective  # trials still rank by the objective
    assert scheduler_summary(spec) == f"scheduler {kind} watches loss (min; {objective} is flat early, set scheduler.metric to choose)"


def test_scheduler_metric_and_other_objectives_are_kept():
    told = make_spec(scheduler={"type": "asha", "metric": "bleu"})
    assert (_built_scheduler(told)[0].metric, told.scheduler_objective.mode) == ("bleu", "max")
    assert scheduler_summary(told) == "scheduler asha watches bleu (max)"
    classification = make_spec(task={"type": "classification", "data": "builtin:sentiment"}, scheduler={"type": "asha"})
    assert _built_scheduler(classification)[0].metric == "accuracy"
    summarization = make_spec(task={"type": "summarization", "data": "builtin:headlines"}, scheduler={"type": "asha"})
    assert _built_scheduler(summarization)[0].metric == "loss"
    qa = make_spec(task={"type": "qa", "data": "builtin:facts"}, scheduler={"type": "asha"}, objective={"metric": "exact_match"})
    assert _built_scheduler(qa)[0].metric == "loss"
    pbt = make_spec(scheduler={"type": "pbt"}, search={"parameters": {"train.lr": {"values": [1e-3, 2e-3]}}})
    assert pbt.scheduler_objective.metric == "bleu"
    assert scheduler_summary(make_spec()) == "scheduler fifo (no early stopping)"
