"""Extractive QA: exact match and token F1 with SQuAD's answer normalisation.

Answers are normalised as the official SQuAD script does (lowercase, drop ASCII punctuation,
drop the articles a/an/the, collapse whitespace) and F1 is over whitespace tokens. Each
example takes its best score over its gold answers. As in SQuAD 2.0, gold answers that
normalise to nothing are dropped, an example left with none is unanswerable (gold ``""``),
and F1 is 1 when prediction and gold are both empty and 0 when only one is.

SQuAD's rules were written for English: other languages keep their own punctuation, and
text without spaces (Chinese) is one token, so its F1 is close to its exact match.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from typing import TYPE_CHECKING

from tfcli.metrics.base import Evaluation, SuffStats, mean_stats

if TYPE_CHECKING:
    from tfcli.metrics.api import MetricSettings

QA_METRICS = ("exact_match", "f1")

_ARTICLES_RE = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = frozenset(string.punctuation)

SIGNATURES = {
    "exact_match": "squad|norm:lower+punct+articles+space|refs:best|empty:squad2",
    "f1": "squad|norm:lower+punct+articles+space|tok:whitespace|refs:best|empty:squad2",
}


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lowercase, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES_RE.sub(" ", text).split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str, gold: str) -> float:
    prediction_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(gold).split()
    if not prediction_tokens or not gold_tokens:
        return float(prediction_tokens == gold_tokens)
    common = sum((Counter(prediction_tokens) & Counter(gold_tokens)).values())
    if common == 0:
        return 0.0
    precision = common / len(prediction_tokens)
    recall = common / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def gold_answers(answers: list[str]) -> list[str]:
    """The answers that survive normalisation, or ``[""]`` for an unanswerable question."""
    return [a for a in answers if normalize_answer(a)] or [""]


def run_qa(
    names: list[str],
    predictions: list[str],
    references: list[list[str]],
    settings: "MetricSettings",
    want_stats: bool,
) -> tuple[Evaluation, dict[str, SuffStats]]:
    functions = {"exact_match": exact_match, "f1": token_f1}
    golds = [gold_answers(answers) for answers in references]
    stats = {
        name: mean_stats(
            [100.0 * max(functions[name](p, g) for g in gold) for p, gold in zip(predictions, golds)]
        )
        for name in names
    }
    evaluation = Evaluation(
        scores={name: stats[name].corpus_score() for name in names},
        signatures={name: SIGNATURES[name] for name in names},
    )
    return evaluation, stats
