"""Types shared by the metric families: what a family returns, and its sufficient statistics.

Every metric is reduced to per-example statistics that add up over examples (n-gram counts
for BLEU, one-hot counts for macro F1, a score and a count for metrics that are means). A
corpus score is the score of the column sums, and a bootstrap resample is the score of a
weighted sum of rows, so scoring and significance testing share one definition per metric.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Callable, Sequence

import numpy as np

ScoreFn = Callable[["np.ndarray"], "np.ndarray"]


@dataclass
class Evaluation:
    """What one metric family computed: scores (0-100) and how they were computed."""

    scores: dict[str, float] = field(default_factory=dict)
    signatures: dict[str, str] = field(default_factory=dict)
    details: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class SuffStats:
    """Per-example statistics of one metric that add up over examples.

    ``sums(weights)`` takes example weights (R, N), one row per resample (all ones for the
    corpus), and returns the weighted statistics; ``score(sums)`` turns them into R scores.
    """

    n_examples: int

    def sums(self, weights: "np.ndarray") -> "np.ndarray":
        raise NotImplementedError

    def score(self, sums: "np.ndarray") -> "np.ndarray":
        raise NotImplementedError

    def corpus_score(self) -> float:
        return float(self.score(self.sums(np.ones((1, self.n_examples))))[0])


class ArrayStats(SuffStats):
    """Statistics held as an (N, k) array; ``score_fn`` maps summed rows (R, k) to scores (R,)."""

    def __init__(self, values: "np.ndarray", score_fn: ScoreFn):
        self.values = values
        self.n_examples = len(values)
        self._score_fn = score_fn

    def sums(self, weights: "np.ndarray") -> "np.ndarray":
        return weights @ self.values

    def score(self, sums: "np.ndarray") -> "np.ndarray":
        return self._score_fn(sums)


def mean_stats(per_example: Sequence[float]) -> ArrayStats:
    """Statistics of a metric that is the mean of per-example scores."""
    column = np.asarray(per_example, dtype=np.float64)
    values = np.column_stack([column, np.ones_like(column)])
    return ArrayStats(values, lambda sums: sums[:, 0] / sums[:, 1])


def library_version(distribution: str) -> str:
    """The installed version of a library, for signatures; ``unknown`` if it has no metadata."""
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"
