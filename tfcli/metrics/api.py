"""The public metric API: settings, results, ``compute_metrics`` and ``paired_bootstrap``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Callable, Optional, Sequence

from tfcli.spec.schema import EvalSpec
from tfcli.spec.tasks import LOWER_IS_BETTER, TASK_TYPES, TASKS
from tfcli.errors import MetricError
from tfcli.metrics.base import Evaluation, SuffStats
from tfcli.metrics.bootstrap import paired_test, resample_weights
from tfcli.metrics.classification import CLASSIFICATION_METRICS, check_classification_settings, run_classification
from tfcli.metrics.qa import QA_METRICS, check_qa_settings, run_qa
from tfcli.metrics.rouge import ROUGE_METRICS, ROUGE_TOKENIZERS, check_rouge_settings, resolve_tokenizer, run_rouge
from tfcli.metrics.seed_stats import two_level_bootstrap
from tfcli.metrics.translation import (
    BLEU_TOKENIZERS,
    METEOR_NOTE,
    SACREBLEU_METRICS,
    check_sacrebleu_settings,
    run_meteor,
    sentence_scores as sacrebleu_sentence_scores,
    run_sacrebleu,
)

SIGNIFICANCE_LEVEL = 0.05

_FAMILY_OF_METRIC: dict[str, dict[str, str]] = {
    "translation": {**dict.fromkeys(SACREBLEU_METRICS, "sacrebleu"), "meteor": "meteor"},
    "summarization": {
        **dict.fromkeys(ROUGE_METRICS, "rouge"),
        "bleu": "sacrebleu",
        "meteor": "meteor",
    },
    "classification": dict.fromkeys(CLASSIFICATION_METRICS, "classification"),
    "qa": dict.fromkeys(QA_METRICS, "qa"),
}

_BOOTSTRAP_METHOD = {
    "sacrebleu": "paired bootstrap on sacrebleu's segment statistics",
    "classification": "paired bootstrap on per-label counts",
}


#: Each family computes its metrics from validated inputs; heavy imports happen inside.
_RUNNERS: dict[str, Callable] = {
    "sacrebleu": run_sacrebleu,
    "meteor": run_meteor,
    "rouge": run_rouge,
    "classification": run_classification,
    "qa": run_qa,
}


@dataclass
class MetricSettings:
    """How metrics are computed.

    ``bleu_tokenize``: sacrebleu's tokenizer for BLEU and METEOR (13a, intl, zh, char, none,
    ja-mecab, ko-mecab); with zh, char or the mecab ones TER also splits CJK characters.
    ``rouge_tokenizer``: auto, default, cjk or whitespace (see :mod:`tfcli.metrics.rouge`).
    ``bootstrap_resamples`` and ``bootstrap_seed``: the paired bootstrap's draw.

    The other options are the libraries' own arguments, under their names, with the
    libraries' defaults except one: ``bleu_*`` sacrebleu's ``BLEU`` (smooth_method
    exp/floor/add-k/none, smooth_value, max_ngram_order, lowercase, effective_order);
    ``chrf_*`` its ``CHRF`` (char_order, word_order: 2 is chrF++, beta, eps_smoothing,
    lowercase, whitespace); ``ter_*`` its ``TER`` (case_sensitive, no_punct, and normalized /
    asian_support, which follow ``bleu_tokenize`` when ``None``); ``rouge_use_stemmer`` and
    ``rouge_split_summaries`` rouge-score's ``use_stemmer`` and ``split_summaries``
    (:data:`tfcli.metrics.notes.STEMMING_DEFAULT_NOTE`: stemming is on by default in tfcli,
    off in rouge-score); ``classification_labels``,
    ``zero_division`` (0 or 1) and ``pos_label`` scikit-learn's ``labels``, ``zero_division``
    and ``pos_label``; ``qa_rules`` squad_v1 (the official v1.1 script, the default) or
    squad_v2 (SQuAD 2.0, unanswerable questions).
    """

    bleu_tokenize: str = EvalSpec.model_fields["bleu_tokenize"].default
    rouge_tokenizer: str = EvalSpec.model_fields["rouge_tokenizer"].default
    bootstrap_resamples: int = EvalSpec.model_fields["bootstrap_resamples"].default
    bootstrap_seed: int = 12345
    # BLEU (sacrebleu's BLEU arguments)
    bleu_smooth_method: str = "exp"
    bleu_smooth_value: Optional[float] = None
    bleu_max_ngram_order: int = 4
    bleu_lowercase: bool = False
    bleu_effective_order: bool = False
    # chrF (sacrebleu's CHRF arguments; word_order 2 is chrF++)
    chrf_char_order: int = 6
    chrf_word_order: int = 0
    chrf_beta: int = 2
    chrf_eps_smoothing: bool = False
    chrf_lowercase: bool = False
    chrf_whitespace: bool = False
    # TER (sacrebleu's TER arguments); None: follow bleu_tokenize (on for CJK tokenizers)
    ter_case_sensitive: bool = False
    ter_no_punct: bool = False
    ter_normalized: Optional[bool] = None
    ter_asian_support: Optional[bool] = None
    # ROUGE (rouge-score's RougeScorer use_stemmer, split_summaries); stemming is on in tfcli
    rouge_use_stemmer: bool = True
    rouge_split_summaries: bool = False
    # classification (scikit-learn's precision_recall_fscore_support arguments)
    classification_labels: Optional[tuple[str, ...]] = None
    zero_division: float = 0.0
    pos_label: Optional[str] = None
    # qa: squad_v1 (the official v1.1 script) or squad_v2 (unanswerable questions)
    qa_rules: str = "squad_v1"

    @classmethod
    def from_eval(cls, evaluation: "EvalSpec | dict | None") -> "MetricSettings":
        """The settings a study's ``eval`` section gives (a spec, or its JSON as stored in
        MLflow and in checkpoints); fields it lacks keep the study file's defaults."""
        if evaluation is None:
            return cls()
        if not isinstance(evaluation, EvalSpec):
            known = {k: v for k, v in dict(evaluation).items() if k in EvalSpec.model_fields}
            evaluation = EvalSpec.model_validate(known)
        names = [f.name for f in fields(cls) if f.name != "bootstrap_seed"]
        given = {name: getattr(evaluation, name) for name in names}
        if given["classification_labels"] is not None:
            given["classification_labels"] = tuple(str(label) for label in given["classification_labels"])
        return cls(**given)

    def validate(self) -> None:
        if self.bleu_tokenize not in BLEU_TOKENIZERS:
            raise MetricError(
                f"bleu_tokenize must be one of {', '.join(BLEU_TOKENIZERS)}, but got {self.bleu_tokenize!r}"
            )
        if self.rouge_tokenizer not in ROUGE_TOKENIZERS:
            raise MetricError(
                f"rouge_tokenizer must be one of {', '.join(ROUGE_TOKENIZERS)}, but got {self.rouge_tokenizer!r}"
            )
        if not isinstance(self.bootstrap_resamples, int) or self.bootstrap_resamples < 1:
            raise MetricError(f"bootstrap_resamples must be at least 1, but got {self.bootstrap_resamples!r}")
        if not isinstance(self.bootstrap_seed, int) or self.bootstrap_seed < 0:
            raise MetricError(f"bootstrap_seed must be a non-negative integer, but got {self.bootstrap_seed!r}")
        check_sacrebleu_settings(self)
        check_rouge_settings(self)
        check_classification_settings(self)
        check_qa_settings(self)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class MetricResult:
    """Scores (0-100) by metric name, with each score's signature, details and caveats."""

    scores: dict[str, float] = field(default_factory=dict)
    signatures: dict[str, str] = field(default_factory=dict)
    details: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "scores": dict(self.scores),
            "signatures": dict(self.signatures),
            "details": self.details,
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class BootstrapResult:
    """A paired bootstrap test of system B against system A on one metric.

    ``diff`` is ``score_b - score_a`` (the observed difference of the corpus scores; positive
    means B scores higher, which for TER means worse). ``ci_low``/``ci_high`` bound the 95%
    interval of the resampled differences b - a; ``mean_a``/``mean_b`` are bootstrap means.
    """

    metric: str
    score_a: float
    score_b: float
    mean_a: float
    mean_b: float
    diff: float
    ci_low: float
    ci_high: float
    p_value: float
    n_resamples: int
    seed: int
    method: str
    lower_is_better: bool

    @property
    def significant(self) -> bool:
        return self.p_value < SIGNIFICANCE_LEVEL

    def to_dict(self) -> dict:
        return {**asdict(self), "significant": self.significant}


def metric_names(task: str) -> tuple[str, ...]:
    """The metrics computable from outputs for ``task``, in the task's order."""
    _check_task(task)
    return tuple(name for name in TASKS[task].metrics if name in _FAMILY_OF_METRIC[task])


def _check_task(task: str) -> None:
    if task not in TASK_TYPES:
        raise MetricError(f"task must be one of {', '.join(TASK_TYPES)}, but got {task!r}")


def resolve_metrics(task: str, metrics: Sequence[str] | None) -> list[str]:
    """The metrics to compute: all of the task's for ``None``; a clear error for unknown names."""
    _check_task(task)
    valid = metric_names(task)
    if metrics is None:
        return list(valid)
    if isinstance(metrics, str):
        metrics = [metrics]
    unknown = [m for m in metrics if m not in valid]
    if unknown:
        hint = " (loss comes from training, not from outputs)" if "loss" in unknown else ""
        raise MetricError(
            f"metric must be one of {', '.join(valid)} for task {task}, "
            f"but got {', '.join(repr(m) for m in unknown)}{hint}"
        )
    if not metrics:
        raise MetricError(f"at least one metric is needed for task {task}; choose from {', '.join(valid)}")
    return list(dict.fromkeys(metrics))


def _as_text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise MetricError(f"{what} must be a string, but got {type(value).__name__}: {value!r}")
    return value


def _as_label(value: object, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise MetricError(f"{what} must be a label (a string or an integer), but got {value!r}")
    return str(value)


def _as_text_list(value: object, what: str, allow_empty: bool) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise MetricError(f"{what} must be a list of strings, but got {type(value).__name__}: {value!r}")
    if not value and not allow_empty:
        raise MetricError(f"{what} must hold at least one reference, but got none")
    return [_as_text(item, f"{what}[{j}]") for j, item in enumerate(value)]


def _check_inputs(task: str, predictions: Sequence, references: Sequence) -> tuple[list, list]:
    """Validated copies: predictions as strings, references as labels or lists of strings."""
    if len(predictions) != len(references):
        raise MetricError(
            "predictions and references must have the same length, "
            f"but got {len(predictions)} predictions and {len(references)} references"
        )
    if not predictions:
        raise MetricError("there must be at least one example to score, but got 0")
    if task == "classification":
        return (
            [_as_label(p, f"predictions[{i}]") for i, p in enumerate(predictions)],
            [_as_label(r, f"references[{i}]") for i, r in enumerate(references)],
        )
    allow_empty = task == "qa"
    return (
        # qa: None marks a question left unanswered (its id missing from the predictions).
        [p if p is None and task == "qa" else _as_text(p, f"predictions[{i}]") for i, p in enumerate(predictions)],
        [_as_text_list(r, f"references[{i}]", allow_empty) for i, r in enumerate(references)],
    )


def _by_family(task: str, names: list[str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(_FAMILY_OF_METRIC[task][name], []).append(name)
    return groups


def _run(
    task: str,
    names: list[str],
    predictions: list,
    references: list,
    settings: MetricSettings,
    want_stats: bool,
) -> tuple[Evaluation, dict[str, SuffStats]]:
    merged, stats = Evaluation(), {}
    for family, family_names in _by_family(task, names).items():
        evaluation, family_stats = _RUNNERS[family](
            family_names, predictions, references, settings, want_stats
        )
        merged.scores.update(evaluation.scores)
        merged.signatures.update(evaluation.signatures)
        merged.details.update(evaluation.details)
        merged.notes.extend(n for n in evaluation.notes if n not in merged.notes)
        stats.update(family_stats)
    merged.scores = {name: merged.scores[name] for name in names}
    merged.signatures = {name: merged.signatures[name] for name in names}
    return merged, stats


def pin_settings(
    task: str, settings: MetricSettings, prediction_sets: Sequence[list], references: list
) -> MetricSettings:
    """``settings`` with ``rouge_tokenizer="auto"`` decided once over several systems' outputs.

    Two systems compared on ROUGE must be tokenized alike; deciding "auto" per system could
    give CJK tokens to one and rouge-score's default to the other.
    """
    if task != "summarization" or settings.rouge_tokenizer != "auto":
        return settings
    predictions = [p for predictions in prediction_sets for p in predictions if isinstance(p, str)]
    texts = [[r] if isinstance(r, str) else [t for t in r if isinstance(t, str)] for r in references]
    return replace(settings, rouge_tokenizer=resolve_tokenizer("auto", predictions, texts))


def compute_metrics(
    task: str,
    predictions: list,
    references: list,
    settings: MetricSettings | None = None,
    metrics: list[str] | None = None,
) -> MetricResult:
    """Score ``predictions`` against ``references`` with the task's metrics (all by default).

    translation, summarization: predictions ``list[str]``, references ``list[list[str]]``
    (one or more reference strings per example; counts may differ between examples).
    classification: predictions and references ``list[str]`` labels (integers are turned
    into strings). qa: predictions ``list[str | None]`` (``None``: unanswered, scores 0),
    references ``list[list[str]]`` gold answers per example (an empty list marks an
    unanswerable question, which needs ``qa_rules="squad_v2"``).
    """
    _check_task(task)
    settings = settings or MetricSettings()
    settings.validate()
    names = resolve_metrics(task, metrics)
    predictions, references = _check_inputs(task, predictions, references)
    evaluation, _ = _run(task, names, predictions, references, settings, want_stats=False)
    return MetricResult(
        scores=evaluation.scores,
        signatures=evaluation.signatures,
        details=evaluation.details,
        notes=evaluation.notes,
    )


def sentence_scores(
    task: str,
    predictions: list,
    references: list,
    settings: MetricSettings | None = None,
    metrics: list[str] | None = None,
) -> dict[str, list[float]]:
    """Per-example BLEU, chrF and TER (0-100) through sacrebleu's ``sentence_score``, for
    the task's sacrebleu metrics among ``metrics``; other metrics have no sentence level
    here. For sentence BLEU set ``bleu_effective_order=True``, as sacrebleu advises."""
    _check_task(task)
    settings = settings or MetricSettings()
    settings.validate()
    names = resolve_metrics(task, metrics)
    sentence_level = [n for n in names if _FAMILY_OF_METRIC[task][n] == "sacrebleu"]
    if not sentence_level:
        raise MetricError(
            f"sentence-level scores exist for bleu, chrf and ter only, but got {', '.join(names)} for task {task}"
        )
    predictions, references = _check_inputs(task, predictions, references)
    return {name: sacrebleu_sentence_scores(name, predictions, references, settings) for name in sentence_level}


def paired_bootstrap_many(
    task: str,
    predictions_a: list,
    predictions_b: list,
    references: list,
    metrics: list[str] | None = None,
    settings: MetricSettings | None = None,
) -> dict[str, BootstrapResult]:
    """:func:`paired_bootstrap` for several metrics, sharing one draw and one scoring pass."""
    _check_task(task)
    settings = settings or MetricSettings()
    settings.validate()
    names = resolve_metrics(task, metrics)
    if len(predictions_a) != len(predictions_b):
        raise MetricError(
            "both systems must have one prediction per example, "
            f"but got {len(predictions_a)} for system A and {len(predictions_b)} for system B"
        )
    predictions_a, references = _check_inputs(task, predictions_a, references)
    predictions_b, _ = _check_inputs(task, predictions_b, references)
    settings = pin_settings(task, settings, [predictions_a, predictions_b], references)
    _, stats_a = _run(task, names, predictions_a, references, settings, want_stats=True)
    _, stats_b = _run(task, names, predictions_b, references, settings, want_stats=True)
    weights = resample_weights(len(references), settings.bootstrap_resamples, settings.bootstrap_seed)
    results = {}
    for name in names:
        family = _FAMILY_OF_METRIC[task][name]
        results[name] = BootstrapResult(
            metric=name,
            **paired_test(stats_a[name], stats_b[name], weights),
            n_resamples=settings.bootstrap_resamples,
            seed=settings.bootstrap_seed,
            method=_BOOTSTRAP_METHOD.get(family, "paired bootstrap on per-example scores"),
            lower_is_better=name in LOWER_IS_BETTER,
        )
    return results


def paired_bootstrap(
    task: str,
    predictions_a: list,
    predictions_b: list,
    references: list,
    metric: str,
    settings: MetricSettings | None = None,
) -> BootstrapResult:
    """Paired bootstrap test of system B against system A on ``metric``; see :class:`BootstrapResult`."""
    return paired_bootstrap_many(task, predictions_a, predictions_b, references, [metric], settings)[metric]


def seed_bootstrap(
    task: str,
    prediction_sets_a: Sequence[list],
    prediction_sets_b: Sequence[list],
    references: list,
    metric: str,
    settings: MetricSettings | None = None,
) -> dict[str, float]:
    """Two configurations, several seeds each (one prediction list per seed), scored on the
    same ``references``: the two-level bootstrap of
    :func:`tfcli.metrics.seed_stats.two_level_bootstrap` (seeds, then examples)."""
    _check_task(task)
    settings = settings or MetricSettings()
    settings.validate()
    names = resolve_metrics(task, [metric])
    checked_a = [_check_inputs(task, p, references)[0] for p in prediction_sets_a]
    checked_b = [_check_inputs(task, p, references)[0] for p in prediction_sets_b]
    _, references = _check_inputs(task, list(prediction_sets_a[0]), references)
    settings = pin_settings(task, settings, [*checked_a, *checked_b], references)
    stats_a = [_run(task, names, p, references, settings, want_stats=True)[1][metric] for p in checked_a]
    stats_b = [_run(task, names, p, references, settings, want_stats=True)[1][metric] for p in checked_b]
    return two_level_bootstrap(stats_a, stats_b, n_resamples=settings.bootstrap_resamples, seed=settings.bootstrap_seed)


__all__ = [
    "METEOR_NOTE",
    "BootstrapResult",
    "MetricResult",
    "MetricSettings",
    "compute_metrics",
    "metric_names",
    "paired_bootstrap",
    "paired_bootstrap_many",
    "pin_settings",
    "resolve_metrics",
    "seed_bootstrap",
    "sentence_scores",
]
