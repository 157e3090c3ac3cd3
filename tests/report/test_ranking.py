"""Ranking, filters and columns: pure functions over hand-made TrialRecords."""

from __future__ import annotations

import math

import pytest

from tfcli.errors import MetricError
from tfcli.records import MetricBest, TrialRecord, TrialStatus
from tfcli.spec.objective import choose_metric, mode_for
from tfcli.report.ranking import (
    ReportError,
    check_columns,
    parse_columns,
    parse_where,
    rank_trials,
    searched_parameters,
    value_of,
)

pytestmark = pytest.mark.timeout(30)


def record(trial_id: str, status="FINISHED", *, objective_value=None, objective_step=None, metrics=None, best=None, params=None, config=None, error=None):
    return TrialRecord(
        study="s",
        study_id="sid",
        trial_id=trial_id,
        run_id=f"run-{trial_id}",
        status=TrialStatus(status),
        params=params or {},
        config=config or {},
        metrics=metrics or {},
        best={k: MetricBest(*v) for k, v in (best or {}).items()},
        objective_metric="bleu",
        objective_mode="max",
        objective_value=objective_value,
        objective_step=objective_step,
        last_step=100,
        error=error,
    )


def test_objective_value_is_the_checkpoint_value_and_other_metrics_their_best_or_last():
    r = record("a", objective_value=30.0, objective_step=60, metrics={"bleu": 25.0, "chrf": 50.0}, best={"chrf": (55.0, 80)})
    assert value_of(r, "bleu", "best") == (30.0, 60)
    assert value_of(r, "bleu", "last") == (25.0, 100)
    assert value_of(r, "chrf", "best") == (55.0, 80)
    assert value_of(r, "chrf", "last") == (50.0, 100)
    assert value_of(r, "ter", "best") == (None, None)
    # without the objective tag (a running trial) the best falls back to the history, then the last value
    running = record("b", "RUNNING", metrics={"bleu": 12.0}, best={"bleu": (14.0, 40)})
    assert value_of(running, "bleu", "best") == (14.0, 40)


def test_rank_orders_by_mode_keeps_ties_in_start_order_and_lists_failures_apart():
    records = [
        record("t0", objective_value=10.0),
        record("t1", objective_value=30.0),
        record("t2", "FAILED", objective_value=99.0, error="ValueError: boom"),
        record("t3", objective_value=30.0),
        record("t4", "KILLED", objective_value=50.0),
        record("t5"),  # finished without a value
        record("t6", objective_value=float("nan")),
        record("t7", "RUNNING", objective_value=20.0),
        record("t8", objective_value=40.0, error="diverged"),  # ended by a failure report
    ]
    ranking = rank_trials(records, "bleu", "max")
    assert [(r.rank, r.trial_id) for r in ranking.ranked] == [(1, "t1"), (2, "t3"), (3, "t7"), (4, "t0")]
    assert [r.trial_id for r in ranking.apart] == ["t2", "t4", "t5", "t6", "t8"]
    assert ranking.best.trial_id == "t1"
    low = rank_trials(records, "bleu", "min")
    assert [r.trial_id for r in low.ranked] == ["t0", "t7", "t1", "t3"]


def test_where_filters_on_params_metrics_and_attributes():
    records = [
        record("a", objective_value=10.0, params={"model.d_model": 64, "model.norm": "pre"}, metrics={"loss": 2.0}),
        record("b", objective_value=20.0, params={"model.d_model": 128, "model.norm": "post"}, metrics={"loss": 1.0}),
        record("c", "FAILED", objective_value=30.0, params={"model.d_model": 256, "model.norm": "pre"}, metrics={"loss": 0.5}),
    ]
    ranking = rank_trials(records, "bleu", "max", where=[parse_where("model.d_model>=128")])
    assert [r.trial_id for r in ranking.ranked] == ["b"] and [r.trial_id for r in ranking.apart] == ["c"]
    assert ranking.filtered_out == 1
    only = rank_trials(records, "bleu", "max", where=[parse_where("status=finished"), parse_where("model.norm = pre")])
    assert [r.trial_id for r in only.ranked] == ["a"] and not only.apart
    assert [r.trial_id for r in rank_trials(records, "bleu", "max", where=[parse_where("loss<1.5")]).ranked] == ["b"]
    assert [r.trial_id for r in rank_trials(records, "bleu", "max", where=[parse_where("bleu>15")]).ranked] == ["b"]
    assert [r.trial_id for r in rank_trials(records, "bleu", "max", where=[parse_where("trial!=a")]).ranked] == ["b"]


@pytest.mark.parametrize("text", ["model.d_model", "=3", "model.d_model>=", "a ~ b", ""])
def test_malformed_where_is_a_user_error(text):
    with pytest.raises(ReportError, match="KEY OP VALUE"):
        parse_where(text)


def test_where_on_an_unknown_key_or_text_with_an_order_operator_is_a_user_error():
    records = [record("a", objective_value=1.0, params={"model.norm": "pre"})]
    with pytest.raises(ReportError, match="model.norm"):  # lists what the study has
        rank_trials(records, "bleu", "max", where=[parse_where("model.nrom=pre")])
    with pytest.raises(ReportError, match="compares numbers"):
        rank_trials(records, "bleu", "max", where=[parse_where("model.norm>pre")])


def test_metric_check_lists_the_logged_metrics():
    records = [record("a", metrics={"bleu": 1.0, "loss": 2.0, "hp/train.lr": 0.1}), record("b", metrics={"chrf": 3.0})]
    assert choose_metric(records, study="s", metric="chrf", objective_metric="bleu") == ("chrf", "max")
    with pytest.raises(MetricError) as err:
        choose_metric(records, study="s", metric="rouge1", objective_metric="bleu")
    assert str(err.value) == "the metric must be one the study logged (bleu, chrf, loss), but got 'rouge1'"
    assert choose_metric([], study="s", objective_metric="ter", objective_mode="max") == ("ter", "max")  # not logged yet
    with pytest.raises(MetricError, match="names no objective metric"):
        choose_metric(records, study="s")
    with pytest.raises(MetricError, match="--mode must be max or min"):
        choose_metric(records, study="s", metric="bleu", mode="up")


def test_modes_columns_and_searched_parameters():
    assert mode_for("bleu", "bleu", "min") == "min"
    assert mode_for("ter", "bleu", "max") == "min" and mode_for("loss", None, None) == "min"
    assert mode_for("chrf", "bleu", "min") == "max"
    assert parse_columns(["rank,trial", " bleu ", ""]) == ["rank", "trial", "bleu"]
    assert parse_columns(None) is None
    records = [record("a", params={"train.lr": 0.1}, metrics={"loss": 1.0})]
    check_columns(["rank", "train.lr", "loss", "bleu", "time"], records, "bleu")
    with pytest.raises(ReportError, match="'nope'"):
        check_columns(["rank", "nope"], records, "bleu")
    spec = '{"search": {"parameters": {"train.lr": {"distribution": "log_uniform", "min": 1e-4, "max": 1e-2}, "model.d_model": {"values": [16, 32]}, "train.seed": {"value": 3}}}}'
    assert searched_parameters(spec, records) == ["train.lr", "model.d_model"]
    assert searched_parameters(None, [record("a", config={"x.y": 1})]) == ["x.y"]


def test_parameter_count_matches_the_built_model():
    import itertools

    from tfcli.model.config import parameter_count
    from tfcli.model.transformer import TransformerConfig, build_model, count_parameters

    for kind, positional, norm, tie in itertools.product(("seq2seq", "classifier", "span"), ("sinusoidal", "learned", "rotary"), ("pre", "post"), (True, False)):
        config = TransformerConfig(
            vocab_size=97, kind=kind, num_classes=3, d_model=16, heads=2, encoder_layers=2, decoder_layers=3,
            ffn_dim=24, positional=positional, norm=norm, tie_embeddings=tie, max_length=40,
        )
        assert parameter_count(config.to_dict()) == count_parameters(build_model(config)), (kind, positional, norm, tie)
    assert parameter_count({"d_model": 8}) is None


def test_infinite_values_are_apart_not_ranked():
    import sys

    records = [record("a", objective_value=-math.inf), record("b", objective_value=1.0), record("c", metrics={"bleu": -sys.float_info.max})]
    ranking = rank_trials(records, "bleu", "max")
    assert [r.trial_id for r in ranking.ranked] == ["b"] and [r.trial_id for r in ranking.apart] == ["a", "c"]
