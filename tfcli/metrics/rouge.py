"""ROUGE-1, ROUGE-2, ROUGE-L and ROUGE-Lsum through rouge-score, with stemming by default.

The score of each type is its F-measure; precision and recall (means over examples, from the
same best reference) are in the details. ``rouge_use_stemmer`` is rouge-score's
``use_stemmer`` (it also governs the ``cjk`` tokenizer's Porter stemming); unlike
rouge-score, tfcli stems by default (:data:`tfcli.metrics.notes.STEMMING_DEFAULT_NOTE`
says why).

rouge-score's default tokenizer keeps only ``[a-z0-9]``, so Chinese text scores 0 and
accented letters vanish. The ``rouge_tokenizer`` setting picks the tokenizer:

* ``default``: rouge-score's own (lowercase, ASCII letters and digits, Porter stemming);
* ``cjk``: every CJK character is a token, and other text is split into Unicode words the way
  rouge-score splits ASCII (lowercase, punctuation dropped, Porter stemming of words longer
  than three characters); on ASCII text it gives exactly rouge-score's default tokens;
* ``whitespace``: lowercase and split on whitespace, nothing else (for pre-tokenized text);
* ``auto``: ``cjk`` when any text contains CJK characters, else ``default``.

ROUGE-Lsum splits summaries into sentences on newlines (rouge-score's convention), or with
``rouge_split_summaries`` by NLTK's Punkt sentence tokenizer (rouge-score's
``split_summaries``, which needs NLTK's ``punkt_tab`` data; without it the scoring stops with
a clear error rather than split another way). With
several references an example takes the reference with the best F-measure, per ROUGE type
(rouge-score's ``score_multi``). The corpus score is the mean over examples.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import regex

from tfcli.errors import MetricError
from tfcli.metrics.base import Evaluation, SuffStats, library_version, mean_stats
from tfcli.metrics.notes import STEMMING_DEFAULT_NOTE  # noqa: F401 - documented here, shown by the CLI
from tfcli.metrics.text import CJK_CHARS, contains_cjk, contains_non_ascii_words

if TYPE_CHECKING:
    from tfcli.metrics.api import MetricSettings

ROUGE_METRICS = ("rouge1", "rouge2", "rougeL", "rougeLsum")

ROUGE_TOKENIZERS = ("auto", "default", "cjk", "whitespace")

_CJK_CHAR_RE = re.compile(f"([{CJK_CHARS}])")


class CjkTokenizer:
    """CJK characters one token each; Unicode words elsewhere, as rouge-score treats ASCII."""

    def __init__(self, use_stemmer: bool = True) -> None:
        from nltk.stem import porter

        self._stemmer = porter.PorterStemmer() if use_stemmer else None
        # Letters, digits and combining marks (the vowel signs of Indic scripts are marks).
        self._non_word = regex.compile(r"[^\p{L}\p{N}\p{M}]+")

    def tokenize(self, text: str) -> list[str]:
        text = _CJK_CHAR_RE.sub(r" \1 ", text.lower())
        tokens = self._non_word.sub(" ", text).split()
        if self._stemmer is None:
            return tokens
        return [self._stemmer.stem(token) if len(token) > 3 else token for token in tokens]


class WhitespaceTokenizer:
    """Lowercased whitespace-separated tokens, unstemmed: for text that is already tokenized."""

    def tokenize(self, text: str) -> list[str]:
        return text.lower().split()


def resolve_tokenizer(setting: str, predictions: list[str], references: list[list[str]]) -> str:
    if setting != "auto":
        return setting
    return "cjk" if contains_cjk(predictions, references) else "default"


def check_rouge_settings(settings: "MetricSettings") -> None:
    for name in ("rouge_use_stemmer", "rouge_split_summaries"):
        if not isinstance(getattr(settings, name), bool):
            raise MetricError(f"{name.removeprefix('rouge_')} must be true or false, but got {getattr(settings, name)!r}")


def check_sentence_model() -> None:
    """rouge-score's ``split_summaries`` calls ``nltk.sent_tokenize``: a clear error when
    NLTK's Punkt model (``punkt_tab``) is not installed, instead of NLTK's long one."""
    import nltk

    try:
        nltk.sent_tokenize("One. Two.")
    except LookupError:
        raise MetricError(
            "rouge_split_summaries splits sentences with NLTK's Punkt model, which is not installed; "
            "install it with: python -m nltk.downloader punkt_tab (or split on newlines: --sentence-sep)"
        ) from None


def _tokenizer(name: str, use_stemmer: bool = True):
    """The tokenizer object for rouge-score; ``None`` means rouge-score's default."""
    if name == "cjk":
        return CjkTokenizer(use_stemmer)
    if name == "whitespace":
        return WhitespaceTokenizer()
    return None


def rouge_signature(tokenizer: str, use_stemmer: bool = True, split_summaries: bool = False) -> str:
    stem = "yes" if use_stemmer and tokenizer != "whitespace" else "no"
    lsum = "nltk-punkt" if split_summaries else "newline"
    return (
        f"rouge-score|stem:{stem}|tok:{tokenizer}|lsum:{lsum}|refs:best-f"
        f"|version:{library_version('rouge-score')}"
    )


#: What rouge-score reports for each ROUGE type (its ``Score`` fields).
ROUGE_MEASURES = ("precision", "recall", "fmeasure")


def rouge_segment_scores(
    names: list[str],
    predictions: list[str],
    references: list[list[str]],
    tokenizer: str,
    use_stemmer: bool = True,
    split_summaries: bool = False,
) -> dict[str, dict[str, list[float]]]:
    """Per-example precision, recall and F-measure (0-100) for each ROUGE type in ``names``,
    from the reference with the best F-measure (rouge-score's ``score_multi``)."""
    from rouge_score import rouge_scorer

    if split_summaries and "rougeLsum" in names:
        check_sentence_model()
    scorer = rouge_scorer.RougeScorer(
        list(names),
        use_stemmer=use_stemmer,
        split_summaries=split_summaries,
        tokenizer=_tokenizer(tokenizer, use_stemmer),
    )
    per_example = {name: {measure: [] for measure in ROUGE_MEASURES} for name in names}
    for prediction, refs in zip(predictions, references):
        best = scorer.score_multi(refs, prediction)
        for name in names:
            for measure in ROUGE_MEASURES:
                per_example[name][measure].append(100.0 * getattr(best[name], measure))
    return per_example


def _notes(tokenizer: str, predictions: list[str], references: list[list[str]]) -> list[str]:
    if tokenizer == "default" and contains_non_ascii_words(predictions, references):
        return [
            "rouge-score's default tokenizer drops non-ASCII letters, which these texts contain; "
            "use rouge_tokenizer cjk (Unicode words, CJK characters) or whitespace"
        ]
    return []


def run_rouge(
    names: list[str],
    predictions: list[str],
    references: list[list[str]],
    settings: "MetricSettings",
    want_stats: bool,
) -> tuple[Evaluation, dict[str, SuffStats]]:
    tokenizer = resolve_tokenizer(settings.rouge_tokenizer, predictions, references)
    per_example = rouge_segment_scores(
        names, predictions, references, tokenizer, settings.rouge_use_stemmer, settings.rouge_split_summaries
    )
    stats = {name: mean_stats(values["fmeasure"]) for name, values in per_example.items()}
    measures = {
        name: {measure: mean_stats(values[measure]).corpus_score() for measure in ROUGE_MEASURES}
        for name, values in per_example.items()
    }
    signature = rouge_signature(tokenizer, settings.rouge_use_stemmer, settings.rouge_split_summaries)
    evaluation = Evaluation(
        scores={name: stats[name].corpus_score() for name in names},
        signatures={name: signature for name in names},
        details={"rouge_tokenizer": tokenizer, "rouge": measures},
        notes=_notes(tokenizer, predictions, references),
    )
    return evaluation, stats
