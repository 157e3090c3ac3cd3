"""The best trial against the best baseline: the margin, and the warning when it falls short.

Baselines are scored on the validation split the trials are ranked on (see
:mod:`tfcli.baselines`); pure functions over records, so the report and the export's model
card say the same thing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

from tfcli.baselines.results import BaselineResult, best_baseline
from tfcli.spec.objective import Objective


@dataclass(frozen=True)
class BaselineComparison:
    """``trial`` (the best ranked trial, or None) against ``baseline`` (the best on ``metric``).

    ``margin`` is how much the trial is better than the baseline in the metric's units:
    positive when it beats it, negative or zero when it does not (for a metric where lower
    is better, baseline minus trial).
    """

    metric: str
    mode: str
    baseline: str
    baseline_value: float
    trial: Optional[str] = None
    trial_value: Optional[float] = None

    @property
    def objective(self) -> Objective:
        return Objective(self.metric, self.mode)

    @property
    def margin(self) -> Optional[float]:
        if self.trial_value is None or not math.isfinite(self.trial_value):
            return None
        return self.objective.margin(self.trial_value, self.baseline_value)

    @property
    def beaten(self) -> bool:
        return self.objective.better(self.trial_value, self.baseline_value)

    def warning(self) -> Optional[str]:
        """One line when the best trial does not beat the best baseline, else None."""
        if self.trial is None or self.beaten:
            return None
        margin = self.margin
        by = f"{abs(margin):.4g} {'below' if self.objective.maximize else 'above'} it" if margin else "level with it"
        return (
            f"the best trial {self.trial} ({self.metric} {self.trial_value:.4g}) does not beat the best baseline "
            f"{self.baseline} ({self.metric} {self.baseline_value:.4g} on validation): {by}"
        )

    def to_dict(self) -> dict:
        margin = self.margin
        return {
            "metric": self.metric,
            "mode": self.mode,
            "baseline": self.baseline,
            "baseline_value": self.baseline_value,
            "trial": self.trial,
            "trial_value": self.trial_value if self.trial_value is None or math.isfinite(self.trial_value) else None,
            "margin": margin,
            "beaten": self.beaten,
        }


def compare_with_baselines(
    baselines: Sequence[BaselineResult], metric: str, mode: str, trial: Optional[str], trial_value: Optional[float]
) -> Optional[BaselineComparison]:
    """The best trial against the best validation baseline on ``metric``; None when no
    baseline has that metric (``loss``, a study logged without baselines)."""
    top = best_baseline(baselines, metric, mode, split="valid")
    if top is None:
        return None
    return BaselineComparison(metric, mode, top.name, top.metrics[metric], trial, trial_value)
