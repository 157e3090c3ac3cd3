"""Issue 18: an export's config.json and model card state the study's best baseline and the
exported trial's margin over it."""

from __future__ import annotations

import pytest

from tfcli.baselines.results import BaselineResult
from tfcli.export import export_config, model_card
from tfcli.records import TrialRecord, TrialStatus
from tfcli.report.baselines import compare_with_baselines

pytestmark = pytest.mark.timeout(60)

CHECKPOINT = {
    "task": "translation",
    "step": 20,
    "model": {"kind": "seq2seq", "d_model": 16, "vocab_size": 100},
    "study": {"name": "card", "task": {"type": "translation", "data": "builtin:dates"}},
}
BASELINES = [
    BaselineResult("copy_source", "valid", {"bleu": 3.0}),
    BaselineResult("word_by_word", "valid", {"bleu": 12.5}),
    BaselineResult("word_by_word", "test", {"bleu": 40.0}),  # test results never decide
]


def card_for(value: float, baselines=BASELINES) -> tuple[dict, str]:
    record = TrialRecord(study="card", study_id="sid", trial_id="t_00001", run_id="r", status=TrialStatus.FINISHED,
                         objective_metric="bleu", objective_mode="max", objective_value=value, checkpoint_step=20)
    comparison = compare_with_baselines(baselines, "bleu", "max", record.trial_id, value)
    config = export_config(CHECKPOINT, record=record, study=None, tracking_uri="sqlite:///x.db",
                           logged_metrics={"bleu": value}, outputs=[], baseline=comparison.to_dict() if comparison else None)
    return config, model_card(config)


def test_the_card_states_the_best_baseline_and_the_margin():
    config, card = card_for(20.0)
    assert config["metrics"]["baseline"]["baseline"] == "word_by_word"
    assert config["metrics"]["baseline"]["margin"] == pytest.approx(7.5)
    assert "Best baseline (validation, bleu): word_by_word 12.5; this model is 7.5 better." in card


def test_the_card_says_when_the_model_does_not_beat_it():
    _, card = card_for(10.0)
    assert "word_by_word 12.5; this model does not beat it (2.5 worse)." in card


def test_a_study_without_baselines_says_so():
    config, card = card_for(10.0, baselines=[])
    assert config["metrics"]["baseline"] is None
    assert "Best baseline: none recorded" in card
