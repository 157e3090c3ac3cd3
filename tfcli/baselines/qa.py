"""Extractive QA baselines: the context sentence that shares the most words with the question,
and the best span of that sentence.

Words are compared after SQuAD's normalisation (:func:`.words.normalized_words`). Neither
baseline learns anything from the training split.
"""

from __future__ import annotations

import re
from typing import Callable, Sequence

from tfcli.baselines.words import normalized_words, sentence_spans
from tfcli.data.examples import QAExample

Predict = Callable[[Sequence[QAExample]], list[str]]

#: Candidate answer spans are at most this many words long...
MAX_SPAN_WORDS = 4
#: ...and are scored by the question words among this many words on each side.
SPAN_WINDOW = 3

_WORD = re.compile(r"\S+")
_EDGE_PUNCTUATION = ".,;:!?\"'()[]"


def overlap(text: str, question_words: set[str]) -> int:
    """How many distinct question words ``text`` holds."""
    return len(question_words & set(normalized_words(text)))


def best_sentence(example: QAExample) -> tuple[int, int]:
    """Character offsets of the context sentence with the largest overlap; the first wins a tie."""
    question = set(normalized_words(example.question))
    spans = sentence_spans(example.context) or [(0, len(example.context))]
    return max(spans, key=lambda span: (overlap(example.context[span[0] : span[1]], question), -span[0]))


def best_span(example: QAExample) -> str:
    """The span of the best sentence that its surroundings point at.

    Candidates are runs of 1 to :data:`MAX_SPAN_WORDS` words of the sentence that hold no
    question word (the answer is what the question does not say); each scores the distinct
    question words among the :data:`SPAN_WINDOW` words on either side (the sliding-window
    idea of the SQuAD paper's baseline). The highest score wins, then the earlier, then the
    shorter span; a sentence with no candidate answers with itself.
    """
    start, end = best_sentence(example)
    sentence = example.context[start:end]
    question = set(normalized_words(example.question))
    tokens = [(m.start(), m.end(), set(normalized_words(m.group()))) for m in _WORD.finditer(sentence)]
    best_key, best_text = None, sentence
    for i in range(len(tokens)):
        for j in range(i, min(i + MAX_SPAN_WORDS, len(tokens))):
            if tokens[j][2] & question or not tokens[j][2]:
                break  # a question word (or bare punctuation) ends every run through it
            around = tokens[max(0, i - SPAN_WINDOW) : i] + tokens[j + 1 : j + 1 + SPAN_WINDOW]
            score = len(question & set().union(*(t[2] for t in around))) if around else 0
            key = (score, -i, -(j - i))
            if best_key is None or key > best_key:
                best_key, best_text = key, sentence[tokens[i][0] : tokens[j][1]].strip(_EDGE_PUNCTUATION)
    return best_text


def overlap_sentence(train: Sequence[QAExample]) -> tuple[Predict, str]:
    def predict(examples: Sequence[QAExample]) -> list[str]:
        spans = [best_sentence(e) for e in examples]
        return [e.context[a:b] for e, (a, b) in zip(examples, spans)]

    return predict, "the context sentence with the most question words"


def overlap_span(train: Sequence[QAExample]) -> tuple[Predict, str]:
    return (lambda examples: [best_span(e) for e in examples]), (
        f"in that sentence, the run of up to {MAX_SPAN_WORDS} non-question words with the most question words within {SPAN_WINDOW} words"
    )
