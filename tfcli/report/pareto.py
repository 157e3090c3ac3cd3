"""The Pareto front of a study with several objectives: pure functions, no MLflow, no Optuna.

A study file may list several objectives (``objective: [{metric: bleu, mode: max},
{metric: decode_ms_per_example, mode: min}]``). Each trial is a point, one value per
objective (:mod:`tfcli.report.build` reads each at the trial's best checkpoint step).

* Dominance: ``a`` dominates ``b`` when ``a`` is at least as good in every objective and
  strictly better in one (``max``: larger is better, ``min``: smaller).
* Front ranks (non-dominated sorting): rank 1 is the points no other point dominates;
  rank 2 the points no other point dominates once rank 1 is removed; and so on.
* Hypervolume of the first front: the volume of objective space that the front dominates,
  bounded by a reference point. Optuna 5.1 has no public hypervolume function (only the
  private ``optuna._hypervolume.compute_hypervolume``), so it is computed here exactly, by
  slicing the objectives one by one (the tests check it against Optuna's private one). The
  reference point (:func:`reference_point`) is each objective's worst value among the
  points, moved 10% of the objective's range further in the worse direction (when every
  point has the same value: 10% of its magnitude, or 1 when that is 0), so each front point
  adds some volume. The hypervolume is in the objectives' own units multiplied together.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

from tfcli.spec.objective import MODES, Objective, metric_mode

#: How far beyond the worst value the reference point lies, as a share of the range.
REFERENCE_MARGIN = 0.1


def objectives_of(spec_json: Optional[str]) -> list[Objective]:
    """The objectives of a stored spec, in the study file's order ([] when unreadable)."""
    if not spec_json:
        return []
    try:
        raw = json.loads(spec_json).get("objective")
    except (ValueError, AttributeError):
        return []
    entries = raw if isinstance(raw, list) else [raw] if isinstance(raw, Mapping) else []
    out = []
    for entry in entries:
        if isinstance(entry, Mapping) and entry.get("metric"):
            mode = entry.get("mode")
            if mode not in MODES:
                mode = metric_mode(entry["metric"])
            out.append(Objective(str(entry["metric"]), mode))
    return out


def _losses(values: Sequence[float], modes: Sequence[str]) -> tuple[float, ...]:
    """The point with every objective turned into one to minimise."""
    return tuple(-Objective("", m).score(v) for v, m in zip(values, modes))


def dominates(a: Sequence[float], b: Sequence[float], modes: Sequence[str]) -> bool:
    """Whether ``a`` is at least as good as ``b`` in every objective and better in one."""
    la, lb = _losses(a, modes), _losses(b, modes)
    return all(x <= y for x, y in zip(la, lb)) and any(x < y for x, y in zip(la, lb))


def front_ranks(points: Sequence[Sequence[float]], modes: Sequence[str]) -> list[int]:
    """The front rank of each point (1 = non-dominated), in the order of ``points``."""
    ranks = [0] * len(points)
    left = set(range(len(points)))
    rank = 0
    while left:
        rank += 1
        front = {i for i in left if not any(dominates(points[j], points[i], modes) for j in left if j != i)} or set(left)
        for i in front:
            ranks[i] = rank
        left -= front
    return ranks


def reference_point(points: Sequence[Sequence[float]], modes: Sequence[str], margin: float = REFERENCE_MARGIN) -> list[float]:
    """Each objective's worst value among ``points``, moved ``margin`` of its range further
    in the worse direction (see the module docstring)."""
    ref = []
    for k, mode in enumerate(modes):
        objective = Objective("", mode)
        column = [p[k] for p in points]
        worst = min(column, key=objective.score)
        span = max(column) - min(column)
        step = margin * span if span > 0 else margin * (abs(worst) or 1.0)
        ref.append(worst - objective.sign * step)
    return ref


def hypervolume(points: Sequence[Sequence[float]], modes: Sequence[str], reference: Sequence[float]) -> float:
    """The volume that ``points`` dominate, bounded by ``reference`` (points that do not
    dominate the reference point add nothing)."""
    losses = [_losses(p, modes) for p in points]
    ref = _losses(reference, modes)
    boxes = [p for p in losses if all(x < r for x, r in zip(p, ref))]
    return _volume(boxes, ref)


def _volume(points: list[tuple[float, ...]], ref: tuple[float, ...]) -> float:
    """Hypervolume for minimisation, every point strictly below ``ref`` (slicing objectives)."""
    if not points:
        return 0.0
    if len(ref) == 1:
        return ref[0] - min(p[0] for p in points)
    if len(ref) == 2:
        total, best_y = 0.0, ref[1]
        for x, y in sorted(points):
            if y < best_y:
                total += (ref[0] - x) * (best_y - y)
                best_y = y
        return total
    # Slice along the last objective: between consecutive values, the points at or below the
    # slice dominate a (d-1)-dimensional volume.
    ordered = sorted(points, key=lambda p: p[-1])
    total = 0.0
    for i, point in enumerate(ordered):
        upper = ordered[i + 1][-1] if i + 1 < len(ordered) else ref[-1]
        depth = upper - point[-1]
        if depth > 0:
            total += depth * _volume([p[:-1] for p in ordered[: i + 1]], ref[:-1])
    return total


@dataclass(frozen=True)
class ParetoPoint:
    number: Optional[int]
    trial_id: str
    run_id: str
    values: tuple[float, ...]
    step: Optional[int]
    rank: int = 0
    config: Mapping = field(default_factory=dict)

    def to_dict(self, objectives: Sequence[Objective]) -> dict:
        return {
            "number": self.number,
            "trial_id": self.trial_id,
            "run_id": self.run_id,
            "rank": self.rank,
            "step": self.step,
            "values": {o.metric: v for o, v in zip(objectives, self.values)},
            "config": dict(self.config),
        }


@dataclass(frozen=True)
class ParetoFront:
    """Every point with its front rank (rank 1 first), and the first front's hypervolume."""

    objectives: list[Objective]
    points: list[ParetoPoint] = field(default_factory=list)
    hypervolume: Optional[float] = None
    reference: Optional[list[float]] = None
    notes: list[str] = field(default_factory=list)

    @property
    def front(self) -> list[ParetoPoint]:
        return [p for p in self.points if p.rank == 1]

    def reference_text(self) -> str:
        if self.reference is None:
            return ""
        where = ", ".join(f"{o.metric} {v:.6g}" for o, v in zip(self.objectives, self.reference))
        return (
            f"reference point ({where}): each objective's worst value among these trials, "
            f"{int(REFERENCE_MARGIN * 100)}% of its range further towards worse"
        )

    def to_dict(self) -> dict:
        return {
            "objectives": [o.to_dict() for o in self.objectives],
            "trials": [p.to_dict(self.objectives) for p in self.points],
            "hypervolume": self.hypervolume,
            "reference_point": {o.metric: v for o, v in zip(self.objectives, self.reference)} if self.reference else None,
            "reference_rule": self.reference_text() or None,
            "notes": list(self.notes),
        }


def pareto_front(objectives: Sequence[Objective], points: Sequence[ParetoPoint], notes: Sequence[str] = ()) -> ParetoFront:
    """``points`` (values finite, in the order of ``objectives``) ranked into fronts, rank 1
    first (ties by trial number, then id), with the first front's hypervolume."""
    objectives = list(objectives)
    modes = [o.mode for o in objectives]
    usable = [p for p in points if len(p.values) == len(objectives) and all(math.isfinite(v) for v in p.values)]
    if not usable:
        return ParetoFront(objectives, [], None, None, list(notes))
    ranks = front_ranks([p.values for p in usable], modes)
    ranked = [ParetoPoint(p.number, p.trial_id, p.run_id, p.values, p.step, r, p.config) for p, r in zip(usable, ranks)]
    ranked.sort(key=lambda p: (p.rank, p.number if p.number is not None else math.inf, p.trial_id))
    reference = reference_point([p.values for p in usable], modes)
    volume = hypervolume([p.values for p in ranked if p.rank == 1], modes, reference)
    return ParetoFront(objectives, ranked, volume, reference, list(notes))
