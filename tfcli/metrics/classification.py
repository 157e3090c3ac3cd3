"""Accuracy, and precision, recall and F1 as macro, micro and weighted averages.

The conventions are scikit-learn's (``precision_recall_fscore_support``) with
``zero_division=0``: the labels are those seen in the references or the predictions; a
label never predicted has precision 0, a label absent from the references has recall 0, and
both still count in the macro average; the weighted average weighs each label by its number
of references. For single-label data micro precision, recall and F1 all equal accuracy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tfcli.spec.tasks import TASKS
from tfcli.metrics.base import Evaluation, SuffStats

if TYPE_CHECKING:
    import numpy as np

    from tfcli.metrics.api import MetricSettings

CLASSIFICATION_METRICS = tuple(m for m in TASKS["classification"].metrics if m != "loss")


class LabelCounts:
    """Per-label counts (support, predicted, correct) that add up over examples.

    One example's statistics are three one-hot rows; rather than store N x 3K numbers, keep
    the label indices and count with ``bincount``, which is what a sum of one-hot rows is.
    """

    def __init__(self, labels: list[str], reference_index: "np.ndarray", prediction_index: "np.ndarray"):
        import numpy as np

        self.labels = labels
        self.reference_index = reference_index
        self.prediction_index = prediction_index
        self.correct_index = np.where(reference_index == prediction_index, reference_index, len(labels))
        self._cached: tuple["np.ndarray", "np.ndarray"] | None = None

    def sums(self, weights: "np.ndarray") -> "np.ndarray":
        """Weighted label counts per resample: (R, N) weights -> (R, 3, K).

        The last result is kept: every classification metric asks for the same resamples.
        """
        import numpy as np

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
        import numpy as np

        return self.sums(np.ones((1, len(self.reference_index))))[0]


def _ratio(numerator: "np.ndarray", denominator: "np.ndarray") -> "np.ndarray":
    import numpy as np

    return np.divide(numerator, denominator, out=np.zeros_like(numerator, dtype=np.float64), where=denominator > 0)


def per_label_scores(counts: "np.ndarray") -> dict[str, "np.ndarray"]:
    """Precision, recall, F1 per label from counts (..., 3, K); all 0-1."""
    support, predicted, correct = counts[..., 0, :], counts[..., 1, :], counts[..., 2, :]
    return {
        "precision": _ratio(correct, predicted),
        "recall": _ratio(correct, support),
        "f1": _ratio(2 * correct, support + predicted),
        "support": support,
        "predicted": predicted,
        "correct": correct,
    }


def score_from_counts(metric: str, counts: "np.ndarray") -> "np.ndarray":
    """One metric (0-100) from label counts (R, 3, K) -> (R,)."""
    import numpy as np

    per_label = per_label_scores(counts)
    support, predicted, correct = per_label["support"], per_label["predicted"], per_label["correct"]
    total_correct, total = correct.sum(-1), support.sum(-1)
    if metric == "accuracy" or metric.endswith("_micro"):
        return 100.0 * _ratio(total_correct, total)
    kind = metric.removesuffix("_weighted")
    if metric.endswith("_weighted"):
        return 100.0 * _ratio((per_label[kind] * support).sum(-1), total)
    seen = (support + predicted) > 0
    return 100.0 * _ratio((per_label[kind] * seen).sum(-1), seen.sum(-1).astype(np.float64))


class LabelMetricStats(SuffStats):
    """One metric over shared label counts, so the bootstrap treats it like any other."""

    def __init__(self, counts: LabelCounts, metric: str):
        self.counts = counts
        self.metric = metric
        self.n_examples = len(counts.reference_index)

    def sums(self, weights: "np.ndarray") -> "np.ndarray":
        return self.counts.sums(weights)

    def score(self, sums: "np.ndarray") -> "np.ndarray":
        return score_from_counts(self.metric, sums)


def label_counts(predictions: list[str], references: list[str]) -> LabelCounts:
    import numpy as np

    labels = sorted(set(references) | set(predictions))
    index = {label: i for i, label in enumerate(labels)}
    return LabelCounts(
        labels,
        np.array([index[r] for r in references], dtype=np.int64),
        np.array([index[p] for p in predictions], dtype=np.int64),
    )


def _details(counts: LabelCounts) -> dict:
    scores = per_label_scores(counts.totals())
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
    return {"per_class": per_class, "labels": list(counts.labels)}


def _notes(per_class: dict) -> list[str]:
    never_predicted = [label for label, s in per_class.items() if s["predicted"] == 0]
    never_referenced = [label for label, s in per_class.items() if s["support"] == 0]
    notes = []
    if never_predicted:
        notes.append(f"precision is taken as 0 for labels never predicted: {', '.join(never_predicted)}")
    if never_referenced:
        notes.append(f"recall is taken as 0 for labels not in the references: {', '.join(never_referenced)}")
    return notes


def _signature(metric: str) -> str:
    if metric == "accuracy":
        return "accuracy"
    kind, _, average = metric.partition("_")
    return f"{kind}|average:{average or 'macro'}|labels:refs+preds|zero_division:0"


def run_classification(
    names: list[str],
    predictions: list[str],
    references: list[str],
    settings: "MetricSettings",
    want_stats: bool,
) -> tuple[Evaluation, dict[str, SuffStats]]:
    counts = label_counts(predictions, references)
    stats = {name: LabelMetricStats(counts, name) for name in names}
    details = _details(counts)
    evaluation = Evaluation(
        scores={name: stats[name].corpus_score() for name in names},
        signatures={name: _signature(name) for name in names},
        details=details,
        notes=_notes(details["per_class"]),
    )
    return evaluation, stats
