"""Significance on saved outputs and fANOVA importance, without a store."""

from __future__ import annotations

import random

import pytest

from tfcli.report.importance import fanova
from tfcli.report.significance import compare_outputs, untestable_reason

pytestmark = pytest.mark.timeout(60)


def outputs(predictions, references):
    return [{"index": i, "source": r, "reference": r, "prediction": p} for i, (p, r) in enumerate(zip(predictions, references))]


REFERENCES = [f"{1990 + i % 30} - {1 + i % 12:02d} - {1 + i % 28:02d}" for i in range(60)]


def test_identical_outputs_are_not_significant():
    rng = random.Random(0)
    predictions = [r if rng.random() < 0.5 else "1999 - 01 - 01" for r in REFERENCES]
    result = compare_outputs("translation", "bleu", ("top", outputs(predictions, REFERENCES)), [("other", 2, outputs(predictions, REFERENCES))])
    (test,) = result.tests
    assert test.diff == 0.0 and test.ci_low == 0.0 and test.ci_high == 0.0
    assert test.p_value == 1.0 and test.significant is False
    assert result.examples == 60 and result.resamples == 1000


def test_a_good_system_against_a_bad_one_is_significant():
    good = outputs(REFERENCES, REFERENCES)
    bad = outputs(["the of the" for _ in REFERENCES], REFERENCES)
    result = compare_outputs("translation", "chrf", ("good", good), [("bad", 2, bad), ("missing", 3, None)])
    test, missing = result.tests
    assert test.significant is True and test.p_value < 0.01
    assert test.diff > 50 and test.ci_low > 0 and test.score_top == 100.0
    assert missing.note == "no saved validation outputs" and missing.p_value is None


def test_pairs_on_different_examples_are_not_tested():
    top = outputs(REFERENCES, REFERENCES)
    shorter = outputs(REFERENCES[:-1], REFERENCES[:-1])
    other_refs = outputs(REFERENCES, list(reversed(REFERENCES)))
    result = compare_outputs("translation", "bleu", ("top", top), [("a", 2, shorter), ("b", 3, other_refs)])
    assert [t.note for t in result.tests] == ["validated on different examples (data settings differ)"] * 2


def test_classification_and_qa_references_keep_their_shape():
    labels = ["pos", "neg", "mixed"] * 10
    result = compare_outputs("classification", "accuracy", ("top", outputs(labels, labels)), [("o", 2, outputs(["pos"] * 30, labels))])
    assert result.tests[0].significant is True
    qa = [{"index": i, "reference": ["Paris", "paris"], "prediction": "Paris"} for i in range(20)]
    qa_bad = [{"index": i, "reference": ["Paris", "paris"], "prediction": "Rome"} for i in range(20)]
    assert compare_outputs("qa", "exact_match", ("top", qa), [("o", 2, qa_bad)]).tests[0].significant is True


def test_which_metrics_can_be_tested():
    assert untestable_reason("translation", "bleu") is None
    assert "loss is not computed from outputs" in untestable_reason("translation", "loss")
    assert "tokens_per_s is not computed from outputs for translation" in untestable_reason("translation", "tokens_per_s")


def test_fanova_finds_the_parameter_that_matters():
    rng = random.Random(1)
    points = []
    for _ in range(40):
        config = {"train.lr": 10 ** rng.uniform(-4, -2), "model.d_model": rng.choice([16, 32, 64]), "model.norm": rng.choice(["pre", "post"])}
        points.append((config, 10 * config["model.d_model"] / 64 + rng.gauss(0, 0.05)))
    space = {
        "train.lr": {"distribution": "log_uniform", "min": 1e-4, "max": 1e-2},
        "model.d_model": {"values": [16, 32, 64]},
        "model.norm": {"values": ["pre", "post"]},
    }
    result = fanova(points, ["train.lr", "model.d_model", "model.norm"], space, "max", "bleu")
    assert result.note is None and result.trials == 40
    assert list(result.importances)[0] == "model.d_model" and result.importances["model.d_model"] > 0.8
    assert abs(sum(result.importances.values()) - 1.0) < 1e-6
    # no spec: distributions come from the observed values
    assert list(fanova(points, ["train.lr", "model.d_model", "model.norm"], {}, "max", "bleu").importances)[0] == "model.d_model"


def test_fanova_says_why_it_is_skipped():
    one = fanova([({"a": 1}, 1.0)], ["a"], {}, "max", "bleu")
    assert one.note == "importance needs at least 2 finished trials with a bleu value, but the study has 1"
    flat = fanova([({"a": 1}, 1.0), ({"a": 1}, 2.0)], ["a"], {}, "max", "bleu")
    assert "varies" in flat.note and flat.constant == ["a"]
    none = fanova([({"a": 1}, 1.0), ({"a": 2}, 2.0)], [], {}, "max", "bleu")
    assert none.note == "importance needs searched parameters, but the study searches none"
    same = fanova([({"a": 1}, 1.0), ({"a": 2}, 1.0)], ["a"], {}, "max", "bleu")
    assert "differ" in same.note
    nan = fanova([({"a": 1}, float("nan")), ({"a": 2}, 1.0)], ["a"], {}, "max", "bleu")
    assert nan.trials == 1 and "at least 2" in nan.note
