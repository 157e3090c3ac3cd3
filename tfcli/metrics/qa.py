"""Extractive QA: exact match and token F1 with SQuAD's answer normalisation.

Answers are normalised as the official SQuAD script does (lowercase, drop ASCII punctuation,
drop the articles a/an/the, collapse whitespace) and F1 is over whitespace tokens. Each
example takes its best score over its gold answers. ``qa_rules`` picks the official script:

* ``squad_v1`` (the default): the official SQuAD v1.1 evaluation script. Every gold answer
  counts, and F1 is 0 whenever prediction and gold share no token, so an answer that
  normalises to nothing ("the") has F1 0 even against a gold answer that does too (its exact
  match is 1). Every question must have a gold answer.
* ``squad_v2``: the official SQuAD 2.0 script. Gold answers that normalise to nothing are
  dropped, an example left with none is unanswerable (gold ``""``), and F1 is 1 when
  prediction and gold are both empty and 0 when only one is.

A question left unanswered (prediction ``None``: its id is missing from the predictions)
scores 0, as in the official scripts. An empty prediction ``""`` is an answer like any other,
as the official v1.1 script scores it: exact match 1 against a gold answer that normalises to
nothing, F1 0 (no shared token); under squad_v2 it abstains, right for an unanswerable question.

SQuAD's rules were written for English: other languages keep their own punctuation, and
text without spaces (Chinese) is one token, so its F1 is close to its exact match.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from typing import TYPE_CHECKING

from tfcli.errors import MetricError
from tfcli.metrics.base import Evaluation, SuffStats, mean_stats

if TYPE_CHECKING:
    from tfcli.metrics.api import MetricSettings

QA_METRICS = ("exact_match", "f1")

_ARTICLES_RE = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = frozenset(string.punctuation)

QA_RULES = ("squad_v1", "squad_v2")

_SIGNATURE_BASE = {
    "exact_match": "squad|norm:lower+punct+articles+space|refs:best",
    "f1": "squad|norm:lower+punct+articles+space|tok:whitespace|refs:best",
}


def qa_signature(name: str, rules: str) -> str:
    return f"{_SIGNATURE_BASE[name]}|rules:{rules}|unanswered:0"


def check_qa_settings(settings: "MetricSettings") -> None:
    if settings.qa_rules not in QA_RULES:
        raise MetricError(f"qa_rules must be one of {', '.join(QA_RULES)}, but got {settings.qa_rules!r}")


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lowercase, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES_RE.sub(" ", text).split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str, gold: str, rules: str = "squad_v1") -> float:
    """Token F1; under squad_v2 two empty answers agree (1), under squad_v1 they share no token (0)."""
    prediction_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(gold).split()
    if rules == "squad_v2" and (not prediction_tokens or not gold_tokens):
        return float(prediction_tokens == gold_tokens)
    common = sum((Counter(prediction_tokens) & Counter(gold_tokens)).values())
    if common == 0:
        return 0.0
    precision = common / len(prediction_tokens)
    recall = common / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def gold_answers(answers: list[str], rules: str = "squad_v1") -> list[str]:
    """squad_v2: the answers that survive normalisation, or ``[""]`` for an unanswerable
    question; squad_v1: every answer (there must be one)."""
    if rules == "squad_v1":
        if not answers:
            raise MetricError(
                "under qa_rules squad_v1 every question needs a gold answer, but one has none; "
                "use qa_rules squad_v2 for unanswerable questions"
            )
        return list(answers)
    return [a for a in answers if normalize_answer(a)] or [""]


def is_unanswered(prediction: "str | None") -> bool:
    """No prediction (a missing id): the question scores 0 under both rules."""
    return prediction is None


def example_scores(name: str, predictions: list, references: list[list[str]], rules: str) -> list[float]:
    """Per-example exact match or F1 (0-100), best over each example's gold answers."""
    if name == "exact_match":
        score = exact_match
    else:
        def score(prediction: str, gold: str) -> float:
            return token_f1(prediction, gold, rules)
    out = []
    for prediction, answers in zip(predictions, references):
        golds = gold_answers(answers, rules)
        out.append(0.0 if is_unanswered(prediction) else 100.0 * max(score(prediction, g) for g in golds))
    return out


def run_qa(
    names: list[str],
    predictions: list,
    references: list[list[str]],
    settings: "MetricSettings",
    want_stats: bool,
) -> tuple[Evaluation, dict[str, SuffStats]]:
    rules = settings.qa_rules
    stats = {name: mean_stats(example_scores(name, predictions, references, rules)) for name in names}
    unanswered = sum(is_unanswered(p) for p in predictions)
    evaluation = Evaluation(
        scores={name: stats[name].corpus_score() for name in names},
        signatures={name: qa_signature(name, rules) for name in names},
        details={"qa_rules": rules, "unanswered": unanswered},
        notes=[f"{unanswered} of {len(predictions)} questions are unanswered and score 0"] if unanswered else [],
    )
    return evaluation, stats
