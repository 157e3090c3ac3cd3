"""BLEU, chrF and TER through sacrebleu, and METEOR through NLTK without WordNet.

References arrive as one list of strings per example. sacrebleu wants the transpose: one
stream per reference position. Examples with fewer references than the most any example has
are padded with ``None``, which sacrebleu drops segment by segment (an empty string would be
scored as a real, empty reference). The signature then says ``nrefs:var``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np
from sacrebleu.metrics import BLEU, CHRF, TER

from tfcli.errors import MetricError
from tfcli.metrics.base import ArrayStats, Evaluation, SuffStats, library_version, mean_stats
from tfcli.metrics.text import contains_cjk
from tfcli.metrics.notes import METEOR_NOTE

if TYPE_CHECKING:
    from tfcli.metrics.api import MetricSettings

SACREBLEU_METRICS = ("bleu", "chrf", "ter")

#: sacrebleu tokenizers that work offline; the mecab ones need ``sacrebleu[ja]`` / ``sacrebleu[ko]``.
BLEU_TOKENIZERS = ("13a", "intl", "zh", "char", "none", "ja-mecab", "ko-mecab")

#: Tokenizers for scripts without spaces between words; TER then splits CJK characters too.
_CJK_TOKENIZERS = frozenset({"zh", "char", "ja-mecab", "ko-mecab"})

_EXTRAS = {"ja-mecab": "sacrebleu[ja]", "ko-mecab": "sacrebleu[ko]"}

#: sacrebleu warns at this many hypotheses ending in " ." (text that looks tokenized).
_TOKENIZED_PERIOD_LINES = 100


def reference_streams(references: list[list[str]]) -> list[list[str | None]]:
    """Per-example reference lists as sacrebleu's reference streams, padded with ``None``."""
    depth = max(len(refs) for refs in references)
    return [[refs[i] if i < len(refs) else None for refs in references] for i in range(depth)]


#: sacrebleu's BLEU smoothing methods (``BLEU.SMOOTH_DEFAULTS``).
SMOOTH_METHODS = ("exp", "floor", "add-k", "none")


def check_sacrebleu_settings(settings: "MetricSettings") -> None:
    """Bad BLEU/chrF/TER options as one clear :class:`MetricError`."""
    if settings.bleu_smooth_method not in SMOOTH_METHODS:
        raise MetricError(
            f"smooth_method must be one of {', '.join(SMOOTH_METHODS)}, but got {settings.bleu_smooth_method!r}"
        )
    value = settings.bleu_smooth_value
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
        raise MetricError(f"smooth_value must be a non-negative number, but got {value!r}")
    for name, value, low in [
        ("max_ngram_order", settings.bleu_max_ngram_order, 1),
        ("char_order", settings.chrf_char_order, 0),
        ("word_order", settings.chrf_word_order, 0),
        ("beta", settings.chrf_beta, 0),
    ]:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise MetricError(f"{name} must be an integer of at least {low}, but got {value!r}")
    if settings.chrf_char_order == 0 and settings.chrf_word_order == 0:
        raise MetricError("chrF needs char_order or word_order above 0, but both are 0")
    for name in (
        "bleu_lowercase", "bleu_effective_order", "chrf_eps_smoothing", "chrf_lowercase", "chrf_whitespace",
        "ter_case_sensitive", "ter_no_punct",
    ):
        if not isinstance(getattr(settings, name), bool):
            raise MetricError(f"{name} must be true or false, but got {getattr(settings, name)!r}")
    for name in ("ter_normalized", "ter_asian_support"):
        if getattr(settings, name) is not None and not isinstance(getattr(settings, name), bool):
            raise MetricError(f"{name} must be true or false, but got {getattr(settings, name)!r}")


def _sacrebleu_metric(name: str, settings: "MetricSettings"):
    """sacrebleu's own metric object, built with the settings' arguments."""
    if name == "bleu":
        return BLEU(
            tokenize=settings.bleu_tokenize,
            lowercase=settings.bleu_lowercase,
            smooth_method=settings.bleu_smooth_method,
            smooth_value=settings.bleu_smooth_value,
            max_ngram_order=settings.bleu_max_ngram_order,
            effective_order=settings.bleu_effective_order,
            force=True,
        )
    if name == "chrf":
        return CHRF(
            char_order=settings.chrf_char_order,
            word_order=settings.chrf_word_order,
            beta=settings.chrf_beta,
            lowercase=settings.chrf_lowercase,
            whitespace=settings.chrf_whitespace,
            eps_smoothing=settings.chrf_eps_smoothing,
        )
    cjk = settings.bleu_tokenize in _CJK_TOKENIZERS
    return TER(
        normalized=cjk if settings.ter_normalized is None else settings.ter_normalized,
        asian_support=cjk if settings.ter_asian_support is None else settings.ter_asian_support,
        case_sensitive=settings.ter_case_sensitive,
        no_punct=settings.ter_no_punct,
    )


def sentence_scores(
    name: str, predictions: list[str], references: list[list[str]], settings: "MetricSettings"
) -> list[float]:
    """Per-segment scores (0-100) through sacrebleu's ``sentence_score`` (for sentence BLEU,
    set ``bleu_effective_order``, as sacrebleu recommends)."""
    if name == "bleu":
        text_tokenizer(settings.bleu_tokenize)
    metric = _sacrebleu_metric(name, settings)
    return [float(metric.sentence_score(p, refs).score) for p, refs in zip(predictions, references)]


def text_tokenizer(tokenize: str) -> Callable[[str], str]:
    """sacrebleu's tokenizer ``tokenize``; a clear error when its extra packages are missing."""
    try:
        return BLEU(tokenize=tokenize).tokenizer
    except (ImportError, RuntimeError) as err:
        extra = _EXTRAS.get(tokenize, "sacrebleu's optional packages")
        raise MetricError(
            f"bleu_tokenize {tokenize!r} needs packages that are not installed; "
            f"install them with: pip install '{extra}' (or choose 13a, intl, zh, char or none)"
        ) from err


def _text_notes(predictions: list[str], references: list[list[str]], tokenize: str) -> list[str]:
    notes = []
    if tokenize in ("13a", "intl", "none") and contains_cjk(predictions, references):
        notes.append(
            f"the texts contain CJK characters but BLEU/METEOR tokenize with {tokenize!r}, which "
            "does not split them into words; use bleu_tokenize zh (Chinese), ja-mecab (Japanese) or char"
        )
    periods = sum(1 for p in predictions if p.endswith(" ."))
    if periods >= _TOKENIZED_PERIOD_LINES:
        notes.append(
            f"{periods} hypotheses end in a tokenized period ' .'; BLEU expects detokenized text"
        )
    return notes


def run_sacrebleu(
    names: list[str],
    predictions: list[str],
    references: list[list[str]],
    settings: "MetricSettings",
    want_stats: bool,
) -> tuple[Evaluation, dict[str, SuffStats]]:
    """Corpus scores through sacrebleu's public ``corpus_score``; statistics only when asked."""
    if "bleu" in names:
        text_tokenizer(settings.bleu_tokenize)
    streams = reference_streams(references)
    evaluation = Evaluation(notes=_text_notes(predictions, references, settings.bleu_tokenize))
    stats: dict[str, SuffStats] = {}
    for name in names:
        metric = _sacrebleu_metric(name, settings)
        score = metric.corpus_score(predictions, streams)
        evaluation.scores[name] = float(score.score)
        evaluation.signatures[name] = metric.get_signature().format()
        if name == "bleu":
            evaluation.details["bleu"] = {
                "precisions": [float(p) for p in score.precisions],
                "brevity_penalty": float(score.bp),
                "sys_len": int(score.sys_len),
                "ref_len": int(score.ref_len),
            }
        if want_stats:
            stats[name] = _sacrebleu_stats(metric, predictions, streams)
    return evaluation, stats


def _sacrebleu_stats(metric, predictions: list[str], streams) -> ArrayStats:
    """sacrebleu's per-segment sufficient statistics: what its own paired bootstrap resamples."""
    values = np.asarray(metric._extract_corpus_statistics(predictions, streams), dtype=np.float64)

    def score(sums: np.ndarray) -> np.ndarray:
        return np.array([metric._compute_score_from_stats(row).score for row in sums], dtype=np.float64)

    return ArrayStats(values, score)


class NoSynonyms:
    """Stands in for NLTK's WordNet reader: no word has synonyms.

    NLTK's METEOR aligns in three stages (exact, Porter stem, WordNet synonym); its synonym
    stage only calls ``wordnet.synsets(word)``. With this stand-in that stage adds nothing,
    so the alignment is exact + stem and no NLTK data is ever loaded.
    """

    def synsets(self, lemma: str, *args, **kwargs) -> list:
        return []


def meteor_segment_scores(predictions: list[str], references: list[list[str]], tokenize: str) -> list[float]:
    """Sentence METEOR (0-100) per example, best over its references, on sacrebleu tokens."""
    from nltk.translate.meteor_score import meteor_score

    tokenizer = text_tokenizer(tokenize)
    wordnet = NoSynonyms()
    scores = []
    for prediction, refs in zip(predictions, references):
        hyp_tokens = tokenizer(prediction.rstrip()).split()
        ref_tokens = [tokenizer(ref.rstrip()).split() for ref in refs]
        scores.append(100.0 * meteor_score(ref_tokens, hyp_tokens, wordnet=wordnet))
    return scores


def meteor_signature(tokenize: str) -> str:
    return f"meteor|match:exact+stem|synonyms:no|tok:{tokenize}|nltk:{library_version('nltk')}"


def run_meteor(
    names: list[str],
    predictions: list[str],
    references: list[list[str]],
    settings: "MetricSettings",
    want_stats: bool,
) -> tuple[Evaluation, dict[str, SuffStats]]:
    """METEOR as the mean of sentence scores, the way NLTK-based corpus METEOR is reported."""
    stats = mean_stats(meteor_segment_scores(predictions, references, settings.bleu_tokenize))
    evaluation = Evaluation(
        scores={"meteor": stats.corpus_score()},
        signatures={"meteor": meteor_signature(settings.bleu_tokenize)},
        notes=[METEOR_NOTE, *_text_notes(predictions, references, settings.bleu_tokenize)],
    )
    return evaluation, {"meteor": stats}
