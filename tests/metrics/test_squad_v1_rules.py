"""QA scores against the official SQuAD v1.1 evaluation script, and where SQuAD 2.0 differs.

``official_*`` below are written from the text of ``evaluate-v1.1.py``, the official SQuAD
v1.1 evaluation script (https://rajpurkar.github.io/SQuAD-explorer/): its ``normalize_answer``,
``f1_score``, ``exact_match_score``, ``metric_max_over_ground_truths`` and the loop of its
``evaluate``, which gives a question whose id is missing from the predictions a score of 0.
"""

from __future__ import annotations

import json
import re
import string
from collections import Counter

import pytest

from tfcli.errors import MetricError
from tfcli.metrics import MetricSettings, compute_metrics


# ---- from evaluate-v1.1.py ------------------------------------------------------------
def official_normalize_answer(s):
    """Lower text and remove punctuation, articles and extra whitespace."""

    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    def lower(text):
        return text.lower()

    return white_space_fix(remove_articles(remove_punc(lower(s))))


def official_f1_score(prediction, ground_truth):
    prediction_tokens = official_normalize_answer(prediction).split()
    ground_truth_tokens = official_normalize_answer(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    f1 = (2 * precision * recall) / (precision + recall)
    return f1


def official_exact_match_score(prediction, ground_truth):
    return official_normalize_answer(prediction) == official_normalize_answer(ground_truth)


def official_metric_max_over_ground_truths(metric_fn, prediction, ground_truths):
    scores_for_ground_truths = []
    for ground_truth in ground_truths:
        score = metric_fn(prediction, ground_truth)
        scores_for_ground_truths.append(score)
    return max(scores_for_ground_truths)


def official_evaluate(questions, predictions):
    """``evaluate``'s loop over (id, gold answers) pairs; ``predictions`` maps id -> answer."""
    f1 = exact_match = total = 0
    for qid, ground_truths in questions:
        total += 1
        if qid not in predictions:
            continue  # "Unanswered question ... will receive score 0."
        prediction = predictions[qid]
        exact_match += official_metric_max_over_ground_truths(official_exact_match_score, prediction, ground_truths)
        f1 += official_metric_max_over_ground_truths(official_f1_score, prediction, ground_truths)
    return {"exact_match": 100.0 * exact_match / total, "f1": 100.0 * f1 / total}
# ---------------------------------------------------------------------------------------


#: (id, gold answers, prediction or None for a missing id)
QUESTIONS = [
    ("q1", ["Denver Broncos", "Broncos"], "the Denver Broncos!"),
    ("q2", ["in 1889"], "1889, Paris"),
    ("q3", ["a"], "The"),  # both normalise to "" : v1 exact match 1 but F1 0; v2 F1 1
    ("q4", ["the Eiffel Tower", "tower"], "Eiffel tower tower"),
    ("q5", ["Santa Clara, California"], None),  # id missing from the predictions
    ("q6", ["Naïve Café."], "naïve café"),
    ("q7", ["Levi's Stadium"], "Levis Stadium in the Bay Area"),
]


def test_default_rules_are_the_official_v1_1_script():
    official = official_evaluate([(q, g) for q, g, _ in QUESTIONS], {q: p for q, _, p in QUESTIONS if p is not None})
    result = compute_metrics("qa", [p for _, _, p in QUESTIONS], [g for _, g, _ in QUESTIONS])
    assert result.scores["exact_match"] == pytest.approx(official["exact_match"])
    assert result.scores["f1"] == pytest.approx(official["f1"])
    assert result.details["unanswered"] == 1
    assert all("rules:squad_v1" in s for s in result.signatures.values())


@pytest.mark.parametrize("qid, golds, prediction", [q for q in QUESTIONS if q[2] is not None], ids=[q[0] for q in QUESTIONS if q[2] is not None])
def test_each_answer_matches_the_official_script(qid, golds, prediction):
    result = compute_metrics("qa", [prediction], [golds], MetricSettings(qa_rules="squad_v1"))
    em = official_metric_max_over_ground_truths(official_exact_match_score, prediction, golds)
    f1 = official_metric_max_over_ground_truths(official_f1_score, prediction, golds)
    assert result.scores == {"exact_match": pytest.approx(100.0 * em), "f1": pytest.approx(100.0 * f1)}


def test_an_answer_that_normalises_to_empty_is_where_v1_and_v2_differ():
    v1 = compute_metrics("qa", ["The"], [["a"]], MetricSettings(qa_rules="squad_v1")).scores
    v2 = compute_metrics("qa", ["The"], [["a"]], MetricSettings(qa_rules="squad_v2")).scores
    assert official_normalize_answer("The") == official_normalize_answer("a") == ""
    assert v1 == {"exact_match": 100.0, "f1": 100.0 * official_f1_score("The", "a")} == {"exact_match": 100.0, "f1": 0.0}
    assert v2 == {"exact_match": 100.0, "f1": 100.0}


def test_unanswered_questions_score_zero_under_both_rules():
    for rules in ("squad_v1", "squad_v2"):
        result = compute_metrics("qa", [None, "Paris"], [["Paris"], ["Paris"]], MetricSettings(qa_rules=rules))
        assert result.scores == {"exact_match": 50.0, "f1": 50.0}
        assert "1 of 2 questions are unanswered" in result.notes[0]
    # an empty prediction is an answer: wrong against "Paris"; under v2 it abstains (right for no answer)
    v1 = compute_metrics("qa", [""], [["Paris"]]).scores
    assert v1 == {"exact_match": 0.0, "f1": 0.0}
    v2 = compute_metrics("qa", ["", ""], [["Paris"], []], MetricSettings(qa_rules="squad_v2")).scores
    assert v2 == {"exact_match": 50.0, "f1": 50.0}


def test_unanswerable_questions_need_squad_v2():
    with pytest.raises(MetricError, match="squad_v2"):
        compute_metrics("qa", [""], [[]])
    with pytest.raises(MetricError, match="qa_rules must be one of squad_v1, squad_v2"):
        compute_metrics("qa", ["a"], [["a"]], MetricSettings(qa_rules="squad_v3"))


def test_cli_scores_an_official_predictions_file_keyed_by_id(cli, tmp_path):
    ref = tmp_path / "ref.jsonl"
    ref.write_text("".join(json.dumps({"id": q, "answers": g}) + "\n" for q, g, _ in QUESTIONS), encoding="utf-8")
    hyp = tmp_path / "predictions.json"
    predictions = {q: p for q, _, p in QUESTIONS if p is not None}
    hyp.write_text(json.dumps(predictions, indent=2), encoding="utf-8")
    result = cli("score", "-t", "qa", "--hyp", hyp, "--ref", ref, "-f", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    official = official_evaluate([(q, g) for q, g, _ in QUESTIONS], predictions)
    assert data["scores"] == {"exact_match": pytest.approx(official["exact_match"]), "f1": pytest.approx(official["f1"])}
    assert data["details"]["unanswered"] == 1
    # the same as JSONL lines with ids, in another order
    lines = tmp_path / "predictions.jsonl"
    lines.write_text("".join(json.dumps({"id": q, "prediction": p}) + "\n" for q, p in reversed(predictions.items())), encoding="utf-8")
    again = json.loads(cli("score", "-t", "qa", "--hyp", lines, "--ref", ref, "-f", "json").stdout)
    assert again["scores"] == data["scores"]
    v2 = json.loads(cli("score", "-t", "qa", "--hyp", hyp, "--ref", ref, "-f", "json", "--qa-rules", "squad_v2").stdout)
    assert v2["scores"]["f1"] > data["scores"]["f1"]  # q3 counts 1 under SQuAD 2.0


def test_an_empty_prediction_is_scored_like_any_answer_as_the_official_script_does():
    golds = [["a"], ["Paris"]]
    official = official_evaluate([("e1", golds[0]), ("e2", golds[1])], {"e1": "", "e2": ""})
    result = compute_metrics("qa", ["", ""], golds)
    assert official == {"exact_match": 50.0, "f1": 0.0}  # "" matches the gold "a" (both normalise to nothing)
    assert result.scores == {"exact_match": pytest.approx(official["exact_match"]), "f1": pytest.approx(official["f1"])}
    assert result.details["unanswered"] == 0 and result.notes == []


def test_cli_scores_an_empty_answer_in_a_predictions_file(cli, tmp_path):
    ref = tmp_path / "ref.jsonl"
    ref.write_text(json.dumps({"id": "e1", "answers": ["an"]}) + "\n" + json.dumps({"id": "e2", "answers": ["x"]}) + "\n", encoding="utf-8")
    hyp = tmp_path / "predictions.json"
    hyp.write_text(json.dumps({"e1": ""}), encoding="utf-8")
    data = json.loads(cli("score", "-t", "qa", "--hyp", hyp, "--ref", ref, "-f", "json").stdout)
    assert data["scores"] == {"exact_match": 50.0, "f1": 0.0}
    assert data["details"]["unanswered"] == 1  # e2 has no prediction at all
