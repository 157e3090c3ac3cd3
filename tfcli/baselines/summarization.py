"""Summarization baselines: the lead sentence, and the lead N words."""

from __future__ import annotations

from typing import Callable, Sequence

from tfcli.baselines.words import sentences, words
from tfcli.data.examples import Seq2SeqExample

Predict = Callable[[Sequence[Seq2SeqExample]], list[str]]


def lead_sentence(train: Sequence[Seq2SeqExample]) -> tuple[Predict, str]:
    def predict(examples: Sequence[Seq2SeqExample]) -> list[str]:
        return [(sentences(e.source) or [""])[0] for e in examples]

    return predict, "the first sentence of the document"


def mean_target_words(train: Sequence[Seq2SeqExample]) -> int:
    """The mean length of the training targets in words, rounded, at least 1."""
    lengths = [len(words(e.target)) for e in train]
    return max(1, round(sum(lengths) / len(lengths))) if lengths else 1


def lead_words(train: Sequence[Seq2SeqExample]) -> tuple[Predict, str]:
    n = mean_target_words(train)

    def predict(examples: Sequence[Seq2SeqExample]) -> list[str]:
        return [" ".join(words(e.source)[:n]) for e in examples]

    return predict, f"the first {n} words (the mean target length on train)"
