"""Which baselines each task has, in the order they are shown."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from tfcli.baselines import classification, qa, summarization, translation


@dataclass(frozen=True)
class Baseline:
    """A named baseline. ``fit(train)`` returns ``(predict, detail)``: ``predict(examples)``
    gives one prediction per example, in the form the task's metrics take, and ``detail``
    says what was fitted (the label, the dictionary size, N)."""

    name: str
    fit: Callable[[Sequence], tuple[Callable[[Sequence], list], str]]


BASELINES: dict[str, tuple[Baseline, ...]] = {
    "classification": (
        Baseline("majority_class", classification.majority_class),
        Baseline("tfidf_logreg", classification.tfidf_logreg),
    ),
    "translation": (
        Baseline("copy_source", translation.copy_source),
        Baseline("word_by_word", translation.word_by_word),
    ),
    "summarization": (
        Baseline("lead_sentence", summarization.lead_sentence),
        Baseline("lead_words", summarization.lead_words),
    ),
    "qa": (
        Baseline("overlap_sentence", qa.overlap_sentence),
        Baseline("overlap_span", qa.overlap_span),
    ),
}


def baselines_for(task: str) -> tuple[Baseline, ...]:
    return BASELINES[task]


def baseline_names(task: str) -> list[str]:
    return [b.name for b in BASELINES[task]]
