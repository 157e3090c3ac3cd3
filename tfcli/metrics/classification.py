"""Accuracy, and precision, recall and F1 as macro, micro and weighted averages.

The conventions are scikit-learn's (``precision_recall_fscore_support``), and so are the
options: ``labels`` (the labels averaged over; by default those seen in the references or
the predictions), ``zero_division`` (the value of a ratio with nothing to divide by, 0 by
default: a label never predicted has precision 0, a label absent from the references has
recall 0, and both still count in the macro average) and ``pos_label`` (precision, recall
and F1 become that label's own, scikit-learn's ``average="binary"``, for data with at most
two labels). The weighted average weighs each label by its number of references. Over all
labels, micro precision, recall and F1 all equal accuracy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from tfcli.errors import MetricError
from tfcli.metrics.base import Evaluation, SuffStats
from tfcli.spec.tasks import TASKS

if TYPE_CHECKING:
    from tfcli.metrics.api import MetricSettings

CLASSIFICATION_METRICS = tuple(m for m in TASKS["classification"].metrics if m != "loss")


class LabelCounts:
    """Per-label counts (support, predicted, correct) that add up over examples.

    One example's statistics are three one-hot rows; rather than store N x 3K numbers, keep
    the label indices and count with ``bincount``, which is what a sum of one-hot rows is.
    """

    def __init__(
        self,
        labels: list[str],
        reference_index: "np.ndarray",
        prediction_index: "np.ndarray",
        include: "np.ndarray | None" = None,
        zero_division: float = 0.0,
        pos_index: int | None = None,
    ):
        self.labels = labels
        #: Which labels the averages run over (``None``: those seen, per resample).
        self.include = include
        self.zero_division = zero_division
        #: The positive label's index for binary precision/recall/F1, or ``None``.
        self.pos_index = pos_index
        self.reference_index = reference_index
        self.prediction_index = prediction_index
        self.correct_index = np.where(reference_index == prediction_index, reference_index, len(labels))
        self._cached: tuple["np.ndarray", "np.ndarray"] | None = None

    def sums(self, weights: "np.ndarray") -> "np.ndarray":
        """Weighted label counts per resample: (R, N) weights -> (R, 3, K).

        The last result is kept: every classification metric asks for the same resamples.
        """
        if self._cached is not None and self._cached[0] is weights:
            return self._cached[1]
        k = len(self.labels)
        out = np.empty((weights.shape[0], 3, k))
        for r, w in enumerate(weights):
            out[r, 0] = np.bincount(self.reference_index, weights=w, minlength=k)
            out[r, 1] = np.bincount(self.prediction_index, weights=w, minlength=k)
            out[r, 2] = np.bincount(self.correct_index, weights=w, minlength=k + 1)[:k]
        self._cached = (weights, out)
        return out

    def totals(self) -> "np.ndarray":
        """Counts over the whole corpus: (3, K)."""
        return self.sums(np.ones((1, len(self.reference_index))))[0]


def _ratio(numerator: "np.ndarray", denominator: "np.ndarray", zero_division: float = 0.0) -> "np.ndarray":
    out = np.full(np.shape(numerator), zero_division, dtype=np.float64)
    return np.divide(numerator, denominator, out=out, where=denominator > 0)


def per_label_scores(counts: "np.ndarray", zero_division: float = 0.0) -> dict[str, "np.ndarray"]:
    """Precision, recall, F1 per label from counts (..., 3, K); all 0-1."""
    support, predicted, correct = counts[..., 0, :], counts[..., 1, :], counts[..., 2, :]
    return {
        "precision": _ratio(correct, predicted, zero_division),
        "recall": _ratio(correct, support, zero_division),
        "f1": _ratio(2 * correct, support + predicted, zero_division),
        "support": support,
        "predicted": predicted,
        "correct": correct,
    }


def score_from_counts(
    metric: str,
    counts: "np.ndarray",
    include: "np.ndarray | None" = None,
    zero_division: float = 0.0,
    pos_index: int | None = None,
) -> "np.ndarray":
    """One metric (0-100) from label counts (R, 3, K) -> (R,).

    ``include``: a (K,) mask of the labels averaged over (default: those seen);
    ``pos_index``: binary precision/recall/F1 of that label instead of the macro average.
    """
    per_label = per_label_scores(counts, zero_division)
    support, predicted, correct = per_label["support"], per_label["predicted"], per_label["correct"]
    if metric == "accuracy":
        return 100.0 * _ratio(correct.sum(-1), support.sum(-1))
    mask = (support + predicted) > 0 if include is None else np.broadcast_to(include, support.shape)
    if metric.endswith("_micro"):
        c, s, p = (np.where(mask, x, 0.0).sum(-1) for x in (correct, support, predicted))
        kind = metric.removesuffix("_micro")
        numerator, denominator = {"precision": (c, p), "recall": (c, s), "f1": (2 * c, s + p)}[kind]
        return 100.0 * _ratio(numerator, denominator, zero_division)
    kind = metric.removesuffix("_weighted")
    if metric.endswith("_weighted"):
        weights = np.where(mask, support, 0.0)
        return 100.0 * _ratio((per_label[kind] * weights).sum(-1), weights.sum(-1), zero_division)
    if pos_index is not None:
        return 100.0 * per_label[kind][..., pos_index]
    return 100.0 * _ratio((per_label[kind] * mask).sum(-1), mask.sum(-1).astype(np.float64))


class LabelMetricStats(SuffStats):
    """One metric over shared label counts, so the bootstrap treats it like any other."""

    def __init__(self, counts: LabelCounts, metric: str):
        self.counts = counts
        self.metric = metric
        self.n_examples = len(counts.reference_index)

    def sums(self, weights: "np.ndarray") -> "np.ndarray":
        return self.counts.sums(weights)

    def score(self, sums: "np.ndarray") -> "np.ndarray":
        c = self.counts
        return score_from_counts(self.metric, sums, c.include, c.zero_division, c.pos_index)


#: The ``zero_division`` values offered (scikit-learn's numeric ones; ``nan`` is not offered).
ZERO_DIVISION_VALUES = (0.0, 1.0)


def check_classification_settings(settings: "MetricSettings") -> None:
    value = settings.zero_division
    if isinstance(value, bool) or not isinstance(value, (int, float)) or float(value) not in ZERO_DIVISION_VALUES:
        raise MetricError(f"zero_division must be 0 or 1, but got {value!r}")
    labels = settings.classification_labels
    if labels is not None:
        if isinstance(labels, str) or not all(isinstance(label, str) for label in labels):
            raise MetricError(f"labels must be a list of label strings, but got {labels!r}")
        if not labels:
            raise MetricError("labels must name at least one label, but got none")
        if len(set(labels)) != len(labels):
            raise MetricError(f"labels must not repeat a label, but got {', '.join(labels)}")
    if settings.pos_label is not None and not isinstance(settings.pos_label, str):
        raise MetricError(f"pos_label must be a label string, but got {settings.pos_label!r}")


def label_counts(
    predictions: list[str], references: list[str], settings: "MetricSettings | None" = None
) -> LabelCounts:
    given = list(settings.classification_labels) if settings and settings.classification_labels else None
    pos_label = settings.pos_label if settings else None
    # A positive label absent from the data still counts (its scores are zero_division), as in scikit-learn.
    labels = sorted(set(references) | set(predictions) | set(given or []) | ({pos_label} - {None}))
    index = {label: i for i, label in enumerate(labels)}
    include = None
    if given is not None:
        include = np.zeros(len(labels), dtype=bool)
        include[[index[label] for label in given]] = True
    pos_index = None
    if pos_label is not None:
        if len(labels) > 2:
            raise MetricError(
                f"pos_label needs binary data (at most two labels), but these have {len(labels)}: {', '.join(labels)}"
            )
        pos_index = index[pos_label]
    return LabelCounts(
        labels,
        np.array([index[r] for r in references], dtype=np.int64),
        np.array([index[p] for p in predictions], dtype=np.int64),
        include=include,
        zero_division=float(settings.zero_division) if settings else 0.0,
        pos_index=pos_index,
    )


def _details(counts: LabelCounts) -> dict:
    scores = per_label_scores(counts.totals(), counts.zero_division)
    per_class = {
        label: {
            "precision": 100.0 * float(scores["precision"][i]),
            "recall": 100.0 * float(scores["recall"][i]),
            "f1": 100.0 * float(scores["f1"][i]),
            "support": int(scores["support"][i]),
            "predicted": int(scores["predicted"][i]),
        }
        for i, label in enumerate(counts.labels)
    }
    details = {"per_class": per_class, "labels": list(counts.labels)}
    if counts.include is not None:
        details["averaged_labels"] = [label for label, keep in zip(counts.labels, counts.include) if keep]
    if counts.pos_index is not None:
        details["pos_label"] = counts.labels[counts.pos_index]
    return details


def _notes(per_class: dict, zero_division: float) -> list[str]:
    never_predicted = [label for label, s in per_class.items() if s["predicted"] == 0]
    never_referenced = [label for label, s in per_class.items() if s["support"] == 0]
    notes = []
    value = f"{zero_division:g}"
    if never_predicted:
        notes.append(f"precision is taken as {value} for labels never predicted: {', '.join(never_predicted)}")
    if never_referenced:
        notes.append(f"recall is taken as {value} for labels not in the references: {', '.join(never_referenced)}")
    return notes


def _signature(metric: str, counts: LabelCounts) -> str:
    if metric == "accuracy":
        return "accuracy"
    kind, _, average = metric.partition("_")
    average = average or "macro"
    if average == "macro" and counts.pos_index is not None:
        average = f"binary|pos_label:{counts.labels[counts.pos_index]}"
    labels = "refs+preds" if counts.include is None else "given"
    return f"{kind}|average:{average}|labels:{labels}|zero_division:{counts.zero_division:g}"


def run_classification(
    names: list[str],
    predictions: list[str],
    references: list[str],
    settings: "MetricSettings",
    want_stats: bool,
) -> tuple[Evaluation, dict[str, SuffStats]]:
    counts = label_counts(predictions, references, settings)
    stats = {name: LabelMetricStats(counts, name) for name in names}
    details = _details(counts)
    evaluation = Evaluation(
        scores={name: stats[name].corpus_score() for name in names},
        signatures={name: _signature(name, counts) for name in names},
        details=details,
        notes=_notes(details["per_class"], counts.zero_division),
    )
    return evaluation, stats
