"""Word and sentence splitting for the baselines: plain, predictable rules.

Words are whitespace-separated tokens (what a summary's length is counted in, and what a
copied or translated output is joined back with). Overlap between a question and a context
compares words after SQuAD's answer normalisation (:func:`tfcli.metrics.qa.normalize_answer`:
lowercase, no punctuation, no articles), the normalisation the QA metrics score with.
"""

from __future__ import annotations

import re

from tfcli.metrics.qa import normalize_answer

#: A sentence ends at ., ! or ? (and any closing quotes or brackets) followed by whitespace.
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*(?=\s)")


def words(text: str) -> list[str]:
    return text.split()


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` character offsets of each sentence of ``text``, whitespace trimmed."""
    spans, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        spans.append((start, match.end()))
        start = match.end()
    spans.append((start, len(text)))
    out = []
    for begin, end in spans:
        piece = text[begin:end]
        stripped = piece.strip()
        if stripped:
            begin += len(piece) - len(piece.lstrip())
            out.append((begin, begin + len(stripped)))
    return out


def sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in sentence_spans(text)]


def normalized_words(text: str) -> list[str]:
    """The words of ``text`` as the QA metrics compare them."""
    return normalize_answer(text).split()
