"""What a baseline scored on one split, and the best of several baselines on a metric."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Optional

from tfcli.spec.objective import better

#: The splits baselines are scored on (the trials' validation split, and the test split).
BASELINE_SPLITS = ("valid", "test")


@dataclass(frozen=True)
class BaselineResult:
    """One baseline's scores (0-100, the task's metrics) on one split.

    ``outputs`` holds the per-example records of the valid split in the shape of a trial's
    ``valid_outputs.jsonl`` (``index``, the input, ``reference``, ``prediction``), so the
    report can run the paired bootstrap of the winner against a baseline; it is empty for
    the test split and for results read back from the store's metrics.
    """

    name: str
    split: str
    metrics: Mapping[str, float]
    description: str = ""
    outputs: list = field(default_factory=list, compare=False, repr=False)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "split": self.split,
            "description": self.description,
            "metrics": {k: (v if math.isfinite(v) else None) for k, v in self.metrics.items()},
        }


def best_baseline(results: Iterable[BaselineResult], metric: str, mode: str, split: str = "valid") -> Optional[BaselineResult]:
    """The result of ``split`` with the best ``metric`` under ``mode``; the first wins a tie;
    None when no baseline has a finite value of it."""
    top: Optional[BaselineResult] = None
    for result in results:
        if result.split != split or metric not in result.metrics:
            continue
        if better(result.metrics[metric], top.metrics[metric] if top is not None else None, mode):
            top = result
    return top
