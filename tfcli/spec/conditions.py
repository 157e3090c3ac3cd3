"""Conditional search parameters (``when:``) and known starting points (``search.initial``).

A searched parameter may carry ``when: {PARENT: VALUE}`` (or a list of values): it is only
*active*, and only sampled, when the trial's value of ``PARENT`` is one of them. A parent is
another searched categorical (``values``) parameter, which may itself be conditional; several
parents must all hold. An inactive parameter is absent from the trial's config, so the trial
keeps the study's setting of that field.

This module is the one place that rule lives (spec layer: no Ray, no Optuna): the searchers,
the dry run, the MLflow callback's ``tfcli.searched`` tag and the reports import it.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Iterator, Mapping

from tfcli.spec.schema import ParamSpec, StudySpec


def _parameters(spec_or_parameters: StudySpec | Mapping[str, ParamSpec]) -> Mapping[str, ParamSpec]:
    if isinstance(spec_or_parameters, StudySpec):
        return spec_or_parameters.search.parameters
    return spec_or_parameters


def allowed_values(when_value: Any) -> list[Any]:
    """The parent values a ``when:`` entry accepts: one value or a list of them."""
    return list(when_value) if isinstance(when_value, list) else [when_value]


def conditions(spec_or_parameters) -> dict[str, dict[str, list[Any]]]:
    """For each conditional parameter: {parent: the values that make it active}."""
    return {
        path: {parent: allowed_values(v) for parent, v in param.when.items()}
        for path, param in _parameters(spec_or_parameters).items()
        if param.when
    }


def is_conditional(spec_or_parameters) -> bool:
    """Whether any searched parameter has a ``when:``."""
    return bool(conditions(spec_or_parameters))


def _same(a: Any, b: Any) -> bool:
    """Equal as study values: 1 and 1.0 alike, but True is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b if isinstance(a, bool) and isinstance(b, bool) else False
    return a == b


def value_among(value: Any, values: Iterable[Any]) -> bool:
    return any(_same(value, v) for v in values)


def sampling_order(spec_or_parameters) -> list[str]:
    """Every parameter, parents before the parameters that depend on them, otherwise in the
    study file's order (so a study without ``when:`` keeps its order). Assumes no cycle
    (:func:`cycle_of` finds one); a parameter in a cycle comes last."""
    params = _parameters(spec_or_parameters)
    order: list[str] = []
    placed: set[str] = set()
    pending = list(params)
    while pending:
        progressed = False
        for path in list(pending):
            parents = [p for p in (params[path].when or {}) if p in params]
            if all(p in placed for p in parents):
                order.append(path)
                placed.add(path)
                pending.remove(path)
                progressed = True
                break
        if not progressed:
            order.extend(pending)
            break
    return order


def cycle_of(parameters: Mapping[str, Mapping[str, Any]], start: str) -> list[str] | None:
    """The parameters of a ``when:`` cycle through ``start`` (``[a, b, a]``), or None.
    ``parameters``: {path: its when-mapping (or None)}."""

    def walk(path: str, trail: list[str]) -> list[str] | None:
        for parent in parameters.get(path) or {}:
            if parent == start:
                return [*trail, parent]
            if parent in trail or parent not in parameters:
                continue
            found = walk(parent, [*trail, parent])
            if found:
                return found
        return None

    return walk(start, [start])


def is_active(spec_or_parameters, path: str, config: Mapping[str, Any]) -> bool:
    """Whether ``path`` is active under the (possibly partial) ``config``: each parent named
    in its ``when:`` is active and ``config`` gives it one of the accepted values."""
    params = _parameters(spec_or_parameters)
    return _active(params, path, config, set())


def _active(params: Mapping[str, ParamSpec], path: str, config: Mapping[str, Any], seen: set[str]) -> bool:
    param = params.get(path)
    if param is None or not param.when:
        return True
    if path in seen:  # a cycle (refused by validation): never active
        return False
    for parent, accepted in param.when.items():
        if parent not in config or not _active(params, parent, config, seen | {path}):
            return False
        if not value_among(config[parent], allowed_values(accepted)):
            return False
    return True


def active_parameters(spec: StudySpec, config: Mapping[str, Any], *, constants: bool = False) -> list[str]:
    """The searched parameters (``values`` or a distribution) that a trial with ``config`` sets,
    in the study file's order: every unconditional one, and each conditional one whose
    condition holds in ``config``. ``constants``: include the ``value`` parameters too."""
    params = spec.search.parameters
    return [
        path
        for path, param in params.items()
        if (constants or param.kind != "value") and _active(params, path, config, set())
    ]


def keep_active(spec: StudySpec, config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` without the conditional parameters that its own values make inactive."""
    params = spec.search.parameters
    return {k: v for k, v in config.items() if k not in params or _active(params, k, config, set())}


def grid_combinations(spec: StudySpec) -> list[dict[str, Any]]:
    """Every valid combination of the ``values`` parameters of a grid (searched values only):
    inactive parameters are left out, so no two combinations differ only in a value that
    would not be used. In sampling order, each parameter's values in the file's order."""
    params = spec.search.parameters
    order = [p for p in sampling_order(params) if params[p].kind == "values"]

    def extend(index: int, partial: dict[str, Any]) -> Iterator[dict[str, Any]]:
        if index == len(order):
            yield dict(partial)
            return
        path = order[index]
        if not _active(params, path, partial, set()):
            yield from extend(index + 1, partial)
            return
        for value in params[path].values or []:
            partial[path] = value
            yield from extend(index + 1, partial)
            del partial[path]

    return list(extend(0, {}))


def grid_count(spec: StudySpec) -> int:
    """Configurations in one pass of the grid: the valid combinations."""
    if not is_conditional(spec):
        return math.prod(len(p.values) for p in spec.search.parameters.values() if p.kind == "values")
    return len(grid_combinations(spec))


# --- known starting points ---------------------------------------------------------------------


def _quantized_values(lo: float, hi: float, q: float, log: bool) -> tuple[float, float]:
    """The smallest and largest multiple of ``q`` in [lo, hi] (log: at least q)."""
    low = math.ceil(lo / q - 1e-9) * q
    high = math.floor(hi / q + 1e-9) * q
    return (max(low, q) if log else low), high


def distribution_value_problem(path: str, param: ParamSpec, value: Any, is_int: bool) -> str | None:
    """Why ``value`` is not something the parameter's distribution can produce, or None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return f"must be a number that {param.distribution}(min={param.min:g}, max={param.max:g}) can give, but got {value!r}"
    dist = param.distribution
    lo, hi = param.min, param.max
    q = param.q if dist in ("q_uniform", "q_log_uniform") else None
    if q:
        lo, hi = _quantized_values(lo, hi, q, dist == "q_log_uniform")
    if is_int and not float(value).is_integer():
        return f"{path} takes integers, but got {value!r}"
    if not (lo - 1e-12 * max(1.0, abs(lo)) <= value <= hi + 1e-12 * max(1.0, abs(hi))):
        return f"must lie in [{lo:g}, {hi:g}] (the parameter's {dist}), but got {value!r}"
    if dist == "int_uniform" and not float(value).is_integer():
        return f"int_uniform gives whole numbers, but got {value!r}"
    if q and not math.isclose(value / q, round(value / q), rel_tol=0, abs_tol=1e-6):
        return f"{dist} gives multiples of q={q:g}, but got {value!r}"
    return None


def point_problems(spec_or_parameters, point: Mapping[str, Any], field_kind) -> Iterator[tuple[str | None, str]]:
    """Problems of one ``search.initial`` point, as (key or None, message): a key that is not
    a searched parameter, a value the parameter cannot take, or a conditional parameter that
    the point's own values make inactive. ``field_kind(path)``: ``int``/``float``/``categorical``."""
    params = _parameters(spec_or_parameters)
    searched = [p for p, spec in params.items() if spec.kind != "value"]
    for key, value in point.items():
        param = params.get(key)
        if param is None or param.kind == "value":
            why = "a constant (value), the same in every trial" if param is not None else "not a parameter of search.parameters"
            yield key, f"{key!r} is {why}; a starting point gives searched parameters only: {', '.join(searched) or 'none'}"
            continue
        if param.kind == "values":
            if not value_among(value, param.values or []):
                yield key, f"must be one of the parameter's values {param.values}, but got {value!r}"
            continue
        if param.min is None or param.max is None:
            continue
        problem = distribution_value_problem(key, param, value, field_kind(key) == "int")
        if problem:
            yield key, problem
    for key in point:
        param = params.get(key)
        if param is None or not param.when or _active(params, key, point, set()):
            continue
        parents = ", ".join(f"{parent} in {allowed_values(v)}" for parent, v in param.when.items())
        yield key, f"{key} is only searched when {parents}, which this point does not give; leave it out or give its condition"


def filled(spec: StudySpec, point: Mapping[str, Any], sample) -> dict[str, Any]:
    """``point`` completed in sampling order: ``sample(path)`` draws each active parameter it
    lacks; the result holds exactly the active searched parameters."""
    params = spec.search.parameters
    config: dict[str, Any] = {}
    for path in sampling_order(params):
        if params[path].kind == "value" or not _active(params, path, config, set()):
            continue
        config[path] = point[path] if path in point else sample(path)
    return config


__all__ = [
    "active_parameters",
    "allowed_values",
    "conditions",
    "cycle_of",
    "distribution_value_problem",
    "filled",
    "grid_combinations",
    "grid_count",
    "is_active",
    "is_conditional",
    "keep_active",
    "point_problems",
    "sampling_order",
    "value_among",
]
