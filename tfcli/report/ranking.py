"""Ranking a study's trials: pure functions over :class:`~tfcli.records.TrialRecord`.

Nothing here reads MLflow; :mod:`tfcli.report.build` fetches the records (and, when a value
needs it, the metric history) and hands them over, so every rule below is unit-testable
with hand-made records.

Which value ranks a trial is :func:`tfcli.spec.objective.value_of`; the order is
:func:`tfcli.spec.objective.rank_records`, the one ranking of every best: on a tie in the
value, the lower validation loss at that value's step (``losses``, by run id, which the caller
reads from the history for the tied trials), then the earlier step.

Ranked are the trials that are FINISHED or still RUNNING and have a finite value; FAILED and
KILLED trials, and trials without a value, are listed apart.
"""

from __future__ import annotations

import json
import math
import operator
import re
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

from tfcli.errors import UserError
from tfcli.records import TrialRecord, TrialStatus
from tfcli.spec.objective import AT_CHOICES, Objective, Value, rank_records, value_of  # noqa: F401 - AT_CHOICES, Value: re-exported

#: Columns every report can show besides parameters and metrics.
BUILTIN_COLUMNS = ("rank", "trial", "value", "step", "time", "parameters", "status", "run_id", "error", "infeasible")


class ReportError(UserError):
    """A report option that names something the study does not have."""


# --- values ---------------------------------------------------------------------------------


def is_finite(value: Optional[float]) -> bool:
    """A usable value: not None, NaN or infinite (MLflow's SQL stores keep +-inf as +-max float)."""
    return value is not None and math.isfinite(value) and abs(value) < sys.float_info.max


# --- filters ----------------------------------------------------------------------------------

_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "!=": operator.ne,
    "==": operator.eq,
    "=": operator.eq,
    ">": operator.gt,
    "<": operator.lt,
}
_CONDITION = re.compile(r"^\s*([A-Za-z_][\w./\-]*)\s*(>=|<=|!=|==|=|>|<)\s*(.*?)\s*$")
#: What --where can test besides parameters and metrics (time in seconds; value = the ranking value).
_ATTRIBUTES = ("status", "trial", "trial_id", "run_id", "step", "time", "value")


@dataclass(frozen=True)
class Condition:
    """One ``--where`` condition: ``key op value`` (``model.d_model>=128``, ``status=FINISHED``)."""

    key: str
    op: str
    raw: str

    @property
    def text(self) -> str:
        return f"{self.key}{self.op}{self.raw}"


def parse_where(text: str) -> Condition:
    """Parse ``KEY OP VALUE`` with OP one of ``>= <= != == = > <``."""
    match = _CONDITION.match(text or "")
    if not match or match.group(3) == "":
        raise ReportError(
            "a --where condition must read KEY OP VALUE with OP one of >=, <=, !=, =, >, < "
            f"(e.g. model.d_model>=128 or status=FINISHED), but got {text!r}"
        )
    return Condition(match.group(1), match.group(2), match.group(3).strip("'\""))


def _typed(raw: str) -> Any:
    low = raw.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        return float(raw)
    except ValueError:
        return raw


def _compare(left: Any, op: str, right: Any) -> bool:
    if left is None or right is None:
        return _OPERATORS[op](left, right) if op in ("=", "==", "!=") else False
    if isinstance(left, bool) or isinstance(right, bool):
        left, right = str(left).lower(), str(right).lower()
    elif isinstance(left, (int, float)) and isinstance(right, (int, float)):
        pass
    else:
        left, right = str(left), str(right)
        if op not in ("=", "==", "!="):
            raise ReportError(f"{op} compares numbers, but got the text {right!r}; use = or != for text")
    return bool(_OPERATORS[op](left, right))


@dataclass(frozen=True)
class Row:
    """One trial as a report shows it."""

    record: TrialRecord
    value: Optional[float]
    step: Optional[int]
    rank: Optional[int] = None
    parameters: Optional[int] = None

    @property
    def trial_id(self) -> str:
        return self.record.trial_id

    def attribute(self, name: str) -> Any:
        r = self.record
        if name == "status":
            return r.status.value
        if name == "trial":
            return r.label
        if name == "trial_id":
            return r.trial_id
        if name == "run_id":
            return r.run_id
        if name == "step":
            return self.step
        if name == "time":
            return r.duration_s
        if name == "parameters":
            if self.parameters is not None:
                return self.parameters
            counted = r.metrics.get("parameters")  # what every evaluation logs (COST_METRICS)
            return int(counted) if counted is not None else None
        if name == "value":
            return self.value
        if name == "rank":
            return self.rank
        if name == "error":
            return r.error
        if name == "infeasible":
            return r.infeasible
        raise KeyError(name)


def condition_key_kind(key: str, records: Sequence[TrialRecord], metric: str) -> str:
    """``attribute``, ``param`` or ``metric``; raises ReportError for a key no trial has."""
    if key in _ATTRIBUTES:
        return "attribute"
    if key == metric:
        return "metric"
    if any(key in r.params for r in records):
        return "param"
    if any(key in r.metrics for r in records):
        return "metric"
    names = sorted({k for r in records for k in r.params} | {k for r in records for k in r.metrics})
    raise ReportError(
        f"a --where key must be a parameter, a metric or one of {', '.join(_ATTRIBUTES)}, but got {key!r} "
        f"(this study has {', '.join(names[:40])}{', ...' if len(names) > 40 else ''})"
    )


def matches(row: Row, condition: Condition, kind: str, metric: str) -> bool:
    try:
        return _matches(row, condition, kind, metric)
    except ReportError as err:
        raise ReportError(f"--where {condition.text}: {err}") from None


def _matches(row: Row, condition: Condition, kind: str, metric: str) -> bool:
    r = row.record
    if kind == "attribute":
        left = row.attribute(condition.key)
        right: Any = condition.raw if condition.key in ("status", "trial", "trial_id", "run_id") else _typed(condition.raw)
        if condition.key == "status":
            left, right = str(left).upper(), str(right).upper()
    elif kind == "param":
        left, right = r.params.get(condition.key), _typed(condition.raw)
    else:
        left = row.value if condition.key == metric else r.metrics.get(condition.key)
        right = _typed(condition.raw)
    return _compare(left, condition.op, right)


# --- ranking ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ranking:
    metric: str
    mode: str
    at: str
    ranked: list[Row] = field(default_factory=list)  # best first, rank 1..n
    apart: list[Row] = field(default_factory=list)  # failed, killed, infeasible (search.constraints), or without a value
    filtered_out: int = 0

    @property
    def best(self) -> Optional[Row]:
        return self.ranked[0] if self.ranked else None


def rank_trials(
    records: Iterable[TrialRecord],
    metric: str,
    mode: str,
    *,
    at: str = "best",
    where: Sequence[Condition] = (),
    losses: Optional[Mapping[str, float]] = None,
) -> Ranking:
    """Rank ``records`` by ``metric`` under ``mode`` (``max``/``min``); see the module docstring."""
    objective = Objective(metric, mode)
    records = list(records)
    kinds = [condition_key_kind(c.key, records, metric) for c in where]
    rows, dropped = [], 0
    for record in records:
        v = value_of(record, metric, at)
        row = Row(record=record, value=v.value, step=v.step)
        if all(matches(row, c, k, metric) for c, k in zip(where, kinds)):
            rows.append(row)
        else:
            dropped += 1
    rankable = [
        row
        for row in rows
        if row.record.status in (TrialStatus.FINISHED, TrialStatus.RUNNING)
        and not (row.record.status is TrialStatus.FINISHED and row.record.error)
        and is_finite(row.value)
        and row.record.feasible  # rank_records puts it last; apart, it is never the best nor exported
    ]
    keep = {id(row) for row in rankable}
    apart = [row for row in rows if id(row) not in keep]
    by_record = {id(row.record): row for row in rankable}
    order = [by_record[id(r)] for r in rank_records([row.record for row in rankable], objective, at, losses)]
    ranked = [Row(row.record, row.value, row.step, rank=n + 1) for n, row in enumerate(order)]
    return Ranking(metric=metric, mode=mode, at=at, ranked=ranked, apart=apart, filtered_out=dropped)


def with_parameters(ranking: Ranking, counts: Mapping[str, Optional[int]]) -> Ranking:
    """The ranking with each row's parameter count from ``counts`` (by run id)."""

    def fill(rows: list[Row]) -> list[Row]:
        return [Row(r.record, r.value, r.step, r.rank, counts.get(r.record.run_id, r.parameters)) for r in rows]

    return Ranking(ranking.metric, ranking.mode, ranking.at, fill(ranking.ranked), fill(ranking.apart), ranking.filtered_out)


def parse_columns(values: Optional[Sequence[str]]) -> Optional[list[str]]:
    """``--columns a,b --columns c`` as ``[a, b, c]``; None when not given."""
    if not values:
        return None
    columns = [c.strip() for v in values for c in v.split(",") if c.strip()]
    return columns or None


def check_columns(columns: Sequence[str], records: Sequence[TrialRecord], metric: str) -> None:
    known = set(BUILTIN_COLUMNS) | {metric} | {k for r in records for k in r.params} | {k for r in records for k in r.metrics}
    unknown = [c for c in columns if c not in known]
    if unknown:
        params = sorted({k for r in records for k in r.params})
        raise ReportError(
            f"--columns must name {', '.join(BUILTIN_COLUMNS)}, a metric or a parameter "
            f"(e.g. {', '.join(params[:6])}), but got {', '.join(repr(c) for c in unknown)}"
        )


def cell(row: Row, column: str, metric: str) -> Any:
    """The raw value of ``column`` for ``row`` (None when the trial has none)."""
    if column in BUILTIN_COLUMNS:
        return row.attribute(column)
    if column == metric:
        return row.value
    if column in row.record.params:
        return row.record.params[column]
    if column in row.record.config:
        return row.record.config[column]
    return row.record.metrics.get(column)


def searched_parameters(spec_json: Optional[str], records: Sequence[TrialRecord]) -> list[str]:
    """The study's searched parameters: from its spec, else the keys of the trials' configs."""
    names: list[str] = []
    if spec_json:
        try:
            parameters = (json.loads(spec_json).get("search") or {}).get("parameters") or {}
            names = [k for k, p in parameters.items() if isinstance(p, Mapping) and (p.get("values") is not None or p.get("distribution"))]
        except (ValueError, AttributeError):
            names = []
    if not names:
        names = sorted({k for r in records for k in r.config})
    return names
