"""``search.constraints``: limits a configuration must keep to count, e.g. ``"parameters <= 2e6"``.

A :class:`Constraint` is the one home of what a limit means: its violation in Optuna's
convention (a number, ``<= 0`` when the limit holds), which the searcher is told
(:mod:`tfcli.study.space_optuna`), and whether a trial's metrics keep it, which marks the
trial infeasible on its run (tag ``tfcli.infeasible``) and puts it after every feasible trial
in the one ranking (:func:`tfcli.spec.objective.rank_records`).

A trial is judged on its last result, the one the searcher is told. Costs known before
training (:data:`PRE_TRAINING_METRICS`) are judged before the first step: a configuration
that breaks one trains nothing (:func:`tfcli.train.trainable.train_trial`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional, Sequence

from tfcli.spec.objective import worst_values

#: Metrics a trial knows before its first training step (the model is built, not trained).
PRE_TRAINING_METRICS = ("parameters",)
#: Methods whose Optuna sampler takes a ``constraints_func`` (Optuna 5: TPE, GP, NSGA-II).
CONSTRAINED_METHODS = ("tpe", "gp", "nsga2")
#: Result key of the one report of a configuration refused before training: the constraints it broke.
INFEASIBLE_RESULT_KEY = "tfcli_infeasible"

OPERATORS = ("<=", ">=")
_SYNTAX = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=)\s*(\S+)\s*$")


@dataclass(frozen=True)
class Constraint:
    """``metric op bound``: the trial's ``metric`` must be at most (``<=``) or at least (``>=``) ``bound``."""

    metric: str
    op: str
    bound: float

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.bound:g}"

    def violation(self, value: float) -> float:
        """How far ``value`` is past the bound; ``<= 0`` when the constraint holds (Optuna's convention)."""
        return value - self.bound if self.op == "<=" else self.bound - value

    def broken_by(self, metrics: Mapping[str, float]) -> Optional[float]:
        """The metric's value when ``metrics`` break the constraint; None when they keep it or
        do not carry the metric (a failed trial's last report)."""
        value = metrics.get(self.metric)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value):
            return None
        return float(value) if self.violation(float(value)) > 0 else None


def parse_constraint(text: object) -> Constraint:
    """``"metric <= bound"`` or ``"metric >= bound"`` as a :class:`Constraint`; ValueError
    with the one-line reason otherwise."""
    match = _SYNTAX.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            f"a constraint reads METRIC <= BOUND or METRIC >= BOUND, e.g. \"parameters <= 2e6\", but got {text!r}"
        )
    metric, op, raw = match.groups()
    try:
        bound = float(raw)
    except ValueError:
        raise ValueError(f"the bound of {text!r} must be a number, e.g. 5 or 2e6, but got {raw!r}") from None
    if not math.isfinite(bound):
        raise ValueError(f"the bound of {text!r} must be a finite number, but got {raw!r}")
    return Constraint(metric, op, bound)


def constraints_of(texts: Iterable[str]) -> list[Constraint]:
    """The parsed ``search.constraints`` of a validated study file."""
    return [parse_constraint(text) for text in texts]


def violations(constraints: Sequence[Constraint], metrics: Mapping[str, float]) -> list[float]:
    """Each constraint's violation on ``metrics`` (what Optuna's ``constraints_func`` returns);
    0.0 where ``metrics`` lack the metric: nothing shows the limit was broken."""
    out = []
    for constraint in constraints:
        value = metrics.get(constraint.metric)
        usable = isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)
        out.append(float(constraint.violation(float(value))) if usable else 0.0)
    return out


def broken(constraints: Sequence[Constraint], metrics: Mapping[str, float], only: Optional[Sequence[str]] = None) -> str:
    """The constraints ``metrics`` break, with the values, e.g.
    ``"parameters <= 50000 (parameters=61234)"``, joined by ``"; "``; empty when none is broken.
    ``only``: judge the constraints on these metrics only (:data:`PRE_TRAINING_METRICS`)."""
    parts = []
    for constraint in constraints:
        if only is not None and constraint.metric not in only:
            continue
        value = constraint.broken_by(metrics)
        if value is not None:
            parts.append(f"{constraint} ({constraint.metric}={value:g})")
    return "; ".join(parts)


def refused_result(spec: Any, costs: Mapping[str, float]) -> Optional[dict[str, Any]]:
    """The one report of a configuration whose costs known before training (``costs``, e.g.
    ``{"parameters": 61234}``) break a constraint: step 0, the costs, the worst value of every
    objective and of the scheduler's metric, and the constraints it broke under
    :data:`INFEASIBLE_RESULT_KEY`; None when it keeps them and may train."""
    text = broken(constraints_of(spec.search.constraints), costs, only=PRE_TRAINING_METRICS)
    if not text:
        return None
    return {"step": 0, **worst_values(spec), **{k: float(v) for k, v in costs.items()}, INFEASIBLE_RESULT_KEY: text}


def measured(spec: Any, result: Mapping[str, Any]) -> dict[str, Any]:
    """A refused configuration's report (:func:`refused_result`) without the worst objective
    values, which are sentinels for the searcher and the scheduler, not measurements to log."""
    sentinels = worst_values(spec)
    return {k: v for k, v in result.items() if k not in sentinels}
