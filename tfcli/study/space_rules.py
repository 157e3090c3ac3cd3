"""What a study searches, decided without Ray: which parameters are constant and which are
searched, a quantized parameter's bounds, whether trials come from a plan worked out up
front, and the grid's size. The Ray-backed parts of the search (:mod:`tfcli.study.space`)
build on these."""

from __future__ import annotations

import math
from typing import Any

from tfcli.errors import StudyError
from tfcli.spec import conditions
from tfcli.spec.fields import field_kind, quantized_indices
from tfcli.spec.search_rules import OPTUNA_METHODS
from tfcli.spec.schema import ParamSpec, StudySpec


def snap(value: float, q: float) -> float:
    """``value`` rounded to the nearest multiple of ``q``, without float noise such as 0.30000000000000004."""
    snapped = round(value / q) * q
    decimals = max(0, -math.floor(math.log10(abs(q)))) + 6 if q else 6
    return round(snapped, decimals)


def quantized_bounds(path: str, param: ParamSpec) -> tuple[float, float]:
    """The smallest and largest multiple of q in [min, max], or a StudyError when there is none."""
    lo_k, hi_k = quantized_indices(param.min, param.max, param.q, log=param.distribution == "q_log_uniform")
    if hi_k < lo_k:
        raise StudyError(
            f"{param.distribution} needs a multiple of q between min and max, but "
            f"search.parameters.{path} has none (min={param.min:g}, max={param.max:g}, q={param.q:g})"
        )
    if field_kind(path) == "int":
        return int(lo_k * int(param.q)), int(hi_k * int(param.q))
    return snap(lo_k * param.q, param.q), snap(hi_k * param.q, param.q)


def constants(spec: StudySpec) -> dict[str, Any]:
    """The ``value`` parameters: fixed for every trial, not searched."""
    return {path: p.value for path, p in spec.search.parameters.items() if p.kind == "value"}


def searched(spec: StudySpec) -> list[str]:
    """The parameters a searcher chooses (``values`` and distributions)."""
    return [path for path, p in spec.search.parameters.items() if p.kind != "value"]


def uses_optuna(spec: StudySpec) -> bool:
    """Whether ``search.method`` is an Optuna sampler (tpe, gp, cmaes, qmc, nsga2)."""
    return spec.search.method in OPTUNA_METHODS


def planned(spec: StudySpec) -> bool:
    """Whether random/grid trials come from tfcli's ``PlannedSearch`` (the configurations
    worked out up front, each holding only its active parameters) instead of Tune's variant
    generator: a conditional space (``when:``), or random search with ``search.initial``."""
    if spec.search.method not in ("random", "grid") or not searched(spec):
        return False
    return conditions.is_conditional(spec) or (spec.search.method == "random" and bool(spec.search.initial))


def grid_size(spec: StudySpec) -> int | None:
    """Configurations in one pass of the grid (the valid combinations of the ``values``
    parameters: every product when nothing is conditional), or None if not grid."""
    if spec.search.method != "grid":
        return None
    return conditions.grid_count(spec)
