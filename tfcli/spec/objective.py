"""What "better" means for a metric, and which trial or result is the best.

:class:`Objective` (a metric and its direction) is the one home of a direction: the worst
value, "a is better than b", Optuna's direction word, and :meth:`Objective.outranks`, the one
tie rule (better value, then lower validation loss, then earlier step). :meth:`Objective.ranked`
is the one ranking built on it: a trial's best checkpoint (``train/loop.py``), the best trial
live (``cli/study_live.py``), at the end of a study (``study/outcome.py``), on the parent run
(``tracking/callback.py``), the report's rank 1, ``study best`` and ``export``
(:func:`rank_records`) all order by it.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, NamedTuple, Optional, Sequence, TypeVar

from tfcli.errors import MetricError
from tfcli.records import MetricBest, TrialRecord
from tfcli.spec.tasks import LOWER_IS_BETTER, metric_range

T = TypeVar("T")

MODES = ("max", "min")
#: Optuna's word for each mode (``optuna.create_study(direction=...)``).
DIRECTIONS = {"max": "maximize", "min": "minimize"}

#: The metric that breaks a tie in the objective (lower wins), before the earlier step does.
TIE_BREAK_METRIC = "loss"


def check_mode(mode: str) -> str:
    """``mode`` if it is ``max`` or ``min``; MetricError otherwise (the one check of a mode)."""
    if mode not in MODES:
        raise MetricError(f"--mode must be max or min, but got {mode!r}")
    return mode


def metric_mode(metric: str) -> str:
    """The natural direction of a metric: ``min`` for losses and error rates, else ``max``."""
    return "min" if metric in LOWER_IS_BETTER else "max"


def mode_for(metric: str, objective_metric: Optional[str], objective_mode: Optional[str]) -> str:
    """The mode to rank ``metric`` by: the study's own mode for its objective, else the
    metric's natural direction."""
    if metric == objective_metric and objective_mode in MODES:
        return objective_mode
    return metric_mode(metric)


def _finite(value: Optional[float]) -> bool:
    return value is not None and math.isfinite(value)


@dataclass(frozen=True)
class Objective:
    """A metric and its direction: what "better" means for it.

    The one home of a direction: everything that compares values of a metric, orders trials,
    turns a value into a score where larger is better, or names the worst value asks this.
    Built once from the study file (:func:`objectives`, :func:`primary_objective`) or, for a
    report's or export's chosen metric, from a metric and mode.
    """

    metric: str
    mode: str

    def __post_init__(self) -> None:
        check_mode(self.mode)

    def to_dict(self) -> dict:
        return {"metric": self.metric, "mode": self.mode}

    @classmethod
    def natural(cls, metric: str) -> "Objective":
        """``metric`` in its natural direction (:func:`metric_mode`)."""
        return cls(metric, metric_mode(metric))

    @property
    def maximize(self) -> bool:
        return self.mode == "max"

    @property
    def direction(self) -> str:
        """Optuna's word for the mode: ``maximize`` or ``minimize``."""
        return DIRECTIONS[self.mode]

    @property
    def sign(self) -> float:
        """+1 when larger values are better, -1 when smaller are: ``sign * value`` is a score."""
        return 1.0 if self.maximize else -1.0

    @property
    def worst(self) -> float:
        """The value that no result can be worse than (what a failed trial reports)."""
        return -math.inf if self.maximize else math.inf

    def score(self, value: float) -> float:
        """``value`` as a score where larger is better."""
        return self.sign * value

    def margin(self, value: float, reference: float) -> float:
        """How far ``value`` is better than ``reference`` (negative when worse)."""
        return self.sign * (value - reference)

    def better(self, a: Optional[float], b: Optional[float]) -> bool:
        """Whether ``a`` is strictly better than ``b``.

        Only finite values are scores: NaN and the ±inf that a failed trial reports are never
        better than anything, and any finite value beats None or a non-finite ``b``.
        """
        if not _finite(a):
            return False
        if not _finite(b):
            return True
        return self.score(a) > self.score(b)

    def outranks(self, a: tuple, b: Optional[tuple]) -> bool:
        """Whether result ``a`` beats result ``b``, each ``(objective value, validation loss, step)``.

        The one tie rule of every place that picks a best result (a trial's best checkpoint in
        ``tfcli train`` and in a study, the best trial live, in the summary, in MLflow and in the
        report): the better objective value; on a tie, the lower validation loss; then the
        earlier step. A missing (or non-finite) loss or step never wins a tie.
        """
        value, loss, step = a
        if b is None:
            return self.better(value, None)
        other, other_loss, other_step = b
        if self.better(value, other):
            return True
        if not (_finite(value) and _finite(other) and value == other):
            return False
        if _LOSS.better(loss, other_loss):
            return True
        if _LOSS.better(other_loss, loss):
            return False
        return _STEP.better(step, other_step)

    def ranked(self, items: Iterable[T], key: Callable[[T], tuple], infeasible: Optional[Callable[[T], Any]] = None) -> list[T]:
        """``items`` best first by :meth:`outranks` on ``key(item)``; items that tie on the
        whole key keep their order. The one ranking of every best (see the module docstring).

        ``infeasible(item)``: truthy (the ``search.constraints`` it broke) for an item that
        broke a constraint, which ranks after every feasible item, whatever its value."""
        keyed = [(key(item), item) for item in items]

        def compare(x: tuple, y: tuple) -> int:
            return -1 if self.outranks(x[0], y[0]) else 1 if self.outranks(y[0], x[0]) else 0

        ranked = [item for _, item in sorted(keyed, key=functools.cmp_to_key(compare))]
        if infeasible is None:
            return ranked
        return [item for item in ranked if not infeasible(item)] + [item for item in ranked if infeasible(item)]

    def best(self, items: Iterable[T], key: Callable[[T], tuple], infeasible: Optional[Callable[[T], Any]] = None) -> Optional[T]:
        """The first of :meth:`ranked`; None when no item has a finite value, or none is feasible."""
        ranked = self.ranked(items, key, infeasible)
        if not ranked or (infeasible is not None and infeasible(ranked[0])):
            return None
        return ranked[0] if self.outranks(key(ranked[0]), None) else None

    def reaches(self, value: Optional[float], target: float) -> bool:
        """Whether ``value`` is ``target`` or better (a budget's target; never a non-finite value)."""
        return _finite(value) and self.margin(value, target) >= 0

    def target_problem(self, target: float) -> Optional[str]:
        """Why a target of ``target`` makes no sense for this metric, or None: no value can
        reach it, or every value does (the metric's range: :func:`~tfcli.spec.tasks.metric_range`)."""
        low, high = metric_range(self.metric)
        best, worst = (high, low) if self.maximize else (low, high)
        word = "maximised" if self.maximize else "minimised"
        if best is not None and self.margin(target, best) > 0:
            return f"{self.metric} is {word} and its best possible value is {best:g}, so a target of {target:g} can never be reached"
        if worst is not None and self.margin(target, worst) <= 0:
            return f"{self.metric} is {word} and never worse than {worst:g}, so every evaluation reaches a target of {target:g}"
        return None

    def best_point(self, points: Iterable[tuple[int, float]]) -> Optional[MetricBest]:
        """The best ``(step, value)`` of a metric's history; the earliest step wins a tie."""
        top: Optional[MetricBest] = None
        for step, value in points:
            if self.better(value, top.value if top is not None else None):
                top = MetricBest(value=value, step=step)
        return top


_LOSS = Objective(TIE_BREAK_METRIC, "min")
_STEP = Objective("step", "min")


def objectives(spec: Any) -> list[Objective]:
    """Every objective of a :class:`~tfcli.spec.schema.StudySpec`, in the study file's order."""
    return [Objective(o.metric, o.mode or metric_mode(o.metric)) for o in spec.objectives]


def primary_objective(spec: Any) -> Objective:
    """The first objective of a study spec: it ranks trials and picks each trial's best checkpoint."""
    return objectives(spec)[0]


def scheduler_objective(spec: Any) -> Objective:
    """What a study's scheduler acts on (``StudySpec.scheduler_objective``)."""
    chosen = spec.scheduler_objective
    return Objective(chosen.metric, chosen.mode or metric_mode(chosen.metric))


def worst_values(spec: Any) -> dict[str, float]:
    """The worst value of every objective and of the scheduler's metric: what a trial that has
    no measurement reports (failed for good, or refused by a constraint before training), so
    that a searcher and a scheduler rank it last."""
    return {objective.metric: objective.worst for objective in [*objectives(spec), scheduler_objective(spec)]}


def objective_for(spec: Any, metric: str) -> Objective:
    """``metric`` as the study ranks it: an objective's own direction, else its natural one."""
    return next((o for o in objectives(spec) if o.metric == metric), None) or Objective.natural(metric)


def better(a: Optional[float], b: Optional[float], mode: str) -> bool:
    """:meth:`Objective.better` under ``mode``."""
    return Objective("", mode).better(a, b)


def outranks(a: tuple, b: Optional[tuple], mode: str) -> bool:
    """:meth:`Objective.outranks` under ``mode``."""
    return Objective("", mode).outranks(a, b)


def best_point(points: Iterable[tuple[int, float]], mode: str) -> Optional[MetricBest]:
    """:meth:`Objective.best_point` under ``mode``."""
    return Objective("", mode).best_point(points)


# --- a trial's place --------------------------------------------------------------------------

AT_CHOICES = ("best", "last")


class Value(NamedTuple):
    value: Optional[float]
    step: Optional[int]


def value_of(record: TrialRecord, metric: str, at: str = "best") -> Value:
    """The value that ranks ``record`` by ``metric``, and its step.

    * the study's objective, ``at="best"``: the objective's best value, the one its logged
      checkpoint was scored with (tag ``tfcli.objective_value``) at ``tfcli.objective_step``;
    * any other metric, ``at="best"``: its best value over the trial's history (``record.best``,
      filled by the caller from MLflow's metric history) and that step;
    * ``at="last"``: the value MLflow shows in its runs table (the last logged), at the last step.
    """
    if at not in AT_CHOICES:
        raise ValueError(f"at must be one of {', '.join(AT_CHOICES)}, but got {at!r}")
    if at == "best":
        if metric == record.objective_metric and record.objective_value is not None:
            return Value(record.objective_value, record.objective_step)
        best = record.best.get(metric)
        if best is not None:
            return Value(best.value, best.step)
    value = record.metrics.get(metric)
    return Value(value, record.last_step if value is not None else None)


def record_key(record: TrialRecord, metric: str, at: str = "best", losses: Optional[Mapping[str, float]] = None) -> tuple:
    """``(value, validation loss, step)`` of ``record`` for :meth:`Objective.outranks`.

    The loss is the one at the value's step: at ``last``, the trial's last logged loss; at
    ``best``, ``losses[record.run_id]``, which the caller reads from the loss history at that
    step (:func:`tied_records` says for which trials it matters); missing otherwise.
    """
    value, step = value_of(record, metric, at)
    if at == "last":
        loss = record.metrics.get(TIE_BREAK_METRIC)
    else:
        loss = (losses or {}).get(record.run_id)
    return (value, loss, step)


def tied_records(records: Iterable[TrialRecord], metric: str, at: str = "best") -> list[TrialRecord]:
    """The records whose ranking value another record has too: only their order needs the
    validation loss at that value's step."""
    records = list(records)
    counts: dict[float, int] = {}
    for record in records:
        value = value_of(record, metric, at).value
        if _finite(value):
            counts[value] = counts.get(value, 0) + 1
    return [r for r in records if counts.get(value_of(r, metric, at).value, 0) > 1]


def rank_records(
    records: Iterable[TrialRecord], objective: Objective, at: str = "best", losses: Optional[Mapping[str, float]] = None
) -> list[TrialRecord]:
    """``records`` best first by ``objective`` (see :func:`record_key`): the order of report
    ranks, ``study best``, ``export`` and every other best over recorded trials. A trial that
    broke a ``search.constraints`` limit (``record.infeasible``) ranks after every feasible one."""
    return objective.ranked(records, key=lambda r: record_key(r, objective.metric, at, losses), infeasible=lambda r: r.infeasible)


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
    if mode is not None:
        check_mode(mode)
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
