"""Translation baselines: copy the source, and translate word by word with a learned dictionary."""

from __future__ import annotations

from collections import Counter
from typing import Callable, Sequence

from tfcli.baselines.words import words
from tfcli.data.examples import Seq2SeqExample

Predict = Callable[[Sequence[Seq2SeqExample]], list[str]]

#: The dictionary is learned from at most this many training pairs, and pairs with more
#: than this many source x target word pairs are skipped: the counts grow with their product.
MAX_DICTIONARY_PAIRS = 100_000
MAX_WORD_PAIRS_PER_EXAMPLE = 2_500


def copy_source(train: Sequence[Seq2SeqExample]) -> tuple[Predict, str]:
    return (lambda examples: [e.source for e in examples]), "the source as it is"


def learn_dictionary(pairs: Sequence[Seq2SeqExample]) -> dict[str, str]:
    """Each source word's translation: the target word it co-occurs with most strongly.

    Co-occurrence is counted per sentence pair (each distinct word once per side), and the
    strength of a source word s with a target word t is the Dice coefficient
    ``2 c(s, t) / (c(s) + c(t))``: a raw count would hand the most frequent target words
    (articles, particles) to every source word. Ties go to the larger count, then to the
    target word that sorts first. No position or word order is used.
    """
    source_counts: Counter = Counter()
    target_counts: Counter = Counter()
    joint: Counter = Counter()
    for pair in pairs[:MAX_DICTIONARY_PAIRS]:
        source, target = set(words(pair.source)), set(words(pair.target))
        if len(source) * len(target) > MAX_WORD_PAIRS_PER_EXAMPLE:
            continue
        source_counts.update(source)
        target_counts.update(target)
        joint.update((s, t) for s in source for t in target)
    best: dict[str, tuple[float, int, str]] = {}
    for (s, t), count in joint.items():
        dice = 2 * count / (source_counts[s] + target_counts[t])
        key = (dice, count, t)
        held = best.get(s)
        if held is None or (key[0], key[1]) > (held[0], held[1]) or ((key[0], key[1]) == (held[0], held[1]) and t < held[2]):
            best[s] = key
    return {s: t for s, (_, _, t) in best.items()}


def translate_words(text: str, dictionary: dict[str, str]) -> str:
    """``text`` word by word, in source order; a word the dictionary lacks is copied."""
    return " ".join(dictionary.get(word, word) for word in words(text))


def word_by_word(train: Sequence[Seq2SeqExample]) -> tuple[Predict, str]:
    dictionary = learn_dictionary(train)

    def predict(examples: Sequence[Seq2SeqExample]) -> list[str]:
        return [translate_words(e.source, dictionary) for e in examples]

    return predict, f"a {len(dictionary)}-word dictionary (Dice co-occurrence on the training pairs)"
