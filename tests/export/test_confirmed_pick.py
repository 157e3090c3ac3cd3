"""Issue 13: `tfcli export` picks the configuration with the best confirmed mean once the study
has confirmation runs, and `--by best-trial` keeps the best trial."""

from __future__ import annotations

import types

import pytest

from tfcli import tracking as tr
from tfcli.export.study_export import confirmed_choice
from tfcli.records import Confirmation, TrialRecord, TrialStatus

pytestmark = pytest.mark.timeout(60)


def trial(trial_id, value, seed=None):
    config = {"train.lr": 1e-3 if trial_id.startswith("a") else 2e-3}
    if seed is not None:
        config["train.seed"] = seed
    return TrialRecord(
        study="s", study_id="x", trial_id=trial_id, run_id=f"run-{trial_id}-{seed}", status=TrialStatus.FINISHED,
        config=config, objective_metric="bleu", objective_mode="max", objective_value=value, checkpoint_uri="checkpoint",
    )


@pytest.fixture
def study(monkeypatch):
    records = [trial("a_00000", 30.0), trial("b_00001", 29.0)]  # the trials rank a first
    confirmations = [Confirmation(trial(t, v, s), t, s) for t, vs in (("a_00000", (20.0, 22.0)), ("b_00001", (31.0, 33.0))) for s, v in zip((2, 3), vs)]
    monkeypatch.setattr(tr, "confirmation_records", lambda tracking, name: confirmations)
    snapshot = types.SimpleNamespace(study=types.SimpleNamespace(name="s", objective_metric="bleu", objective_mode="max", task="translation"))
    return snapshot, records


def test_the_pick_follows_the_confirmed_order_when_it_differs_from_the_trial_order(study):
    snapshot, records = study
    record, how, figures = confirmed_choice(None, snapshot, records, records[0], "the best trial", pick=True)
    assert record.trial_id == "b_00001" and "across seeds" in how
    assert figures["valid"]["mean"] == pytest.approx(32.0) and figures["verdict"] in ("changes", "tie")


def test_best_trial_keeps_the_best_trial_and_states_its_confirmed_figures(study):
    snapshot, records = study
    record, how, figures = confirmed_choice(None, snapshot, records, records[0], "the best trial", pick=False)
    assert record.trial_id == "a_00000" and how == "the best trial"
    assert figures["valid"]["mean"] == pytest.approx(21.0)


def test_without_confirmations_the_best_trial_stays(study, monkeypatch):
    snapshot, records = study
    monkeypatch.setattr(tr, "confirmation_records", lambda tracking, name: [])
    assert confirmed_choice(None, snapshot, records, records[0], "the best trial", pick=True) == (records[0], "the best trial", None)


def test_the_model_card_states_validation_test_and_confirmed_figures():
    from tfcli.export import export_config, model_card

    checkpoint = {"task": "translation", "step": 20, "model": {"kind": "seq2seq", "d_model": 16, "vocab_size": 100},
                  "study": {"name": "card", "task": {"type": "translation", "data": "builtin:dates"}}}
    record = trial("a_00000", 30.0)
    confirmed = {"trial_id": "a_00000", "config": {}, "seeds": [2, 3], "metric": "bleu", "verdict": "holds",
                 "verdict_text": "the winner holds", "valid": {"n": 2, "mean": 29.5, "std": 0.5, "ci_low": 25.0, "ci_high": 34.0},
                 "test": {"n": 2, "mean": 27.25, "std": 1.0, "ci_low": 18.0, "ci_high": 36.0}}
    config = export_config(checkpoint, record=record, study=None, tracking_uri="sqlite:///x.db", logged_metrics={"bleu": 30.0},
                           outputs=[], confirmed=confirmed, test={"bleu": 28.5})
    card = model_card(config)
    assert "| bleu | 30 |" in card, "validation"
    assert "Held-out test split" in card and "bleu 28.5" in card
    assert "Confirmed across 2 fresh seeds: bleu 29.5 ± 0.5" in card and "27.25 ± 1 on test" in card and "the winner holds" in card
