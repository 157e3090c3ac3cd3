"""What "better" means for a metric: its direction, the mode a report or export uses, the
comparison of two values, and the best point of a history.

The one home of these rules: the training loop (which checkpoint is best), the study callback,
the tracking reads, the report and the export all import them from here.
"""

from __future__ import annotations

import math
from typing import Iterable, Optional, Sequence

from tfcli.errors import MetricError
from tfcli.records import MetricBest, TrialRecord
from tfcli.spec.tasks import LOWER_IS_BETTER

MODES = ("max", "min")


def metric_mode(metric: str) -> str:
    """The natural direction of a metric: ``min`` for losses and error rates, else ``max``."""
    return "min" if metric in LOWER_IS_BETTER else "max"


def mode_for(metric: str, objective_metric: Optional[str], objective_mode: Optional[str]) -> str:
    """The mode to rank ``metric`` by: the study's own mode for its objective, else the
    metric's natural direction."""
    if metric == objective_metric and objective_mode in MODES:
        return objective_mode
    return metric_mode(metric)


def better(a: Optional[float], b: Optional[float], mode: str) -> bool:
    """Whether ``a`` is strictly better than ``b`` under ``mode``.

    Only finite values are scores: NaN and the ±inf that a failed trial reports are never
    better than anything, and any finite value beats None or a non-finite ``b``.
    """
    if a is None or not math.isfinite(a):
        return False
    if b is None or not math.isfinite(b):
        return True
    return a > b if mode == "max" else a < b


#: The metric that breaks a tie in the objective (lower wins), before the earlier step does.
TIE_BREAK_METRIC = "loss"


def outranks(a: tuple, b: Optional[tuple], mode: str) -> bool:
    """Whether result ``a`` beats result ``b``, each ``(objective value, validation loss, step)``.

    The one tie rule of every place that picks a best result (a trial's best checkpoint in
    ``tfcli train`` and in a study, the best trial live, in the summary, in MLflow and in the
    report): the better objective value; on a tie, the lower validation loss; then the earlier
    step. A missing loss or step never wins a tie.
    """
    value, loss, step = a
    if b is None:
        return better(value, None, mode)
    other, other_loss, other_step = b
    if better(value, other, mode):
        return True
    if value is None or other is None or value != other:
        return False
    if loss is not None and math.isfinite(loss) and (other_loss is None or not math.isfinite(other_loss) or loss < other_loss):
        return True
    if other_loss is not None and (loss is None or loss != other_loss):
        return False
    return step is not None and (other_step is None or step < other_step)


def best_point(points: Iterable[tuple[int, float]], mode: str) -> Optional[MetricBest]:
    """The best ``(step, value)`` of a metric's history; the earliest step wins a tie."""
    top: Optional[MetricBest] = None
    for step, value in points:
        if better(value, top.value if top is not None else None, mode):
            top = MetricBest(value=value, step=step)
    return top


#: Metrics that PBT logs to show a searched value's schedule (``hp/train.lr``): not results.
HPARAM_METRIC_PREFIX = "hp/"


def logged_metrics(records: Iterable[TrialRecord]) -> list[str]:
    """Every result metric some trial logged, sorted."""
    return sorted({k for r in records for k in r.metrics if not k.startswith(HPARAM_METRIC_PREFIX)})


def choose_metric(
    records: Sequence[TrialRecord],
    *,
    study: str,
    metric: Optional[str] = None,
    mode: Optional[str] = None,
    objective_metric: Optional[str] = None,
    objective_mode: Optional[str] = None,
) -> tuple[str, str]:
    """The metric and mode that a report or an export ranks ``records`` by.

    ``metric`` defaults to the study's objective, which is accepted before any trial logged
    it; any other metric must have been logged by a trial. ``mode`` defaults to
    :func:`mode_for`.
    """
    if mode is not None and mode not in MODES:
        raise MetricError(f"--mode must be max or min, but got {mode!r}")
    known = logged_metrics(records)
    chosen = metric or objective_metric
    if chosen is None:
        listed = f" ({', '.join(known)})" if known else ""
        raise MetricError(f"study {study!r} names no objective metric; choose one with --metric{listed}")
    if chosen != objective_metric and chosen not in known:
        if not known:
            raise MetricError(f"the metric must have been logged by a trial, but no trial logged any metric yet (asked for {chosen!r})")
        raise MetricError(f"the metric must be one the study logged ({', '.join(known)}), but got {chosen!r}")
    return chosen, mode or mode_for(chosen, objective_metric, objective_mode)
