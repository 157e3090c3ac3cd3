"""Plain descriptions of a study: its resolved settings and the size of its search space."""

from __future__ import annotations

from typing import Any

from tfcli.spec.conditions import grid_count
from tfcli.spec.fields import field_kind, param_values
from tfcli.spec.schema import StudySpec


def space_size(spec: StudySpec) -> int | None:
    """Distinct configurations the space holds, or None when a parameter is continuous."""
    total = 1
    for name, param in spec.search.parameters.items():
        values = param_values(param, field_kind(name))
        if values is None:
            return None
        total *= len(values)
    return total


def trial_count(spec: StudySpec, num_samples: int | None = None) -> int:
    """Trials a study runs: under grid, the grid repeated num_samples times. ``num_samples``
    overrides ``search.num_samples`` (``--num-samples``)."""
    samples = num_samples or spec.search.num_samples
    if spec.search.method == "grid":
        return grid_count(spec) * samples
    return samples


def space_summary(spec: StudySpec) -> str:
    size = space_size(spec)
    if spec.search.method == "grid":
        size = grid_count(spec)
        return f"grid of {size} configurations x {spec.search.num_samples} = {trial_count(spec)} trials"
    if size is None:
        return f"continuous; {spec.search.num_samples} trials by {spec.search.method} search"
    return f"{size} distinct configurations; {spec.search.num_samples} trials by {spec.search.method} search"


def scheduler_summary(spec: StudySpec) -> str:
    """Which scheduler a study runs and the metric it watches (``StudySpec.scheduler_objective``)."""
    if spec.scheduler.type == "fifo":
        return "scheduler fifo (no early stopping)"
    watched = spec.scheduler_objective
    why = ""
    if spec.scheduler.metric is None and watched.metric != spec.primary_objective.metric:
        why = f"; {spec.primary_objective.metric} is flat early, set scheduler.metric to choose"
    return f"scheduler {spec.scheduler.type} watches {watched.metric} ({watched.mode}{why})"


def resolved(spec: StudySpec) -> dict[str, Any]:
    """The study with every default filled in, as plain data."""
    return spec.model_dump(mode="json", exclude_none=False)
