"""A study's parameters as Ray Tune domains (random and grid search, PBT's mutations, the
dry run's samples): the left column of the table in :mod:`tfcli.study.space`."""

from __future__ import annotations

from typing import Any

from ray import tune

from tfcli.spec.fields import field_kind
from tfcli.spec.schema import ParamSpec, StudySpec
from tfcli.study.space_rules import constants, planned, quantized_bounds, uses_optuna


def tune_domain(path: str, param: ParamSpec, method: str) -> Any:
    """The Tune domain of one parameter (``values`` under grid: a grid search), or its constant."""
    if param.kind == "value":
        return param.value
    if param.kind == "values":
        values = list(param.values)
        return tune.grid_search(values) if method == "grid" else tune.choice(values)
    is_int = field_kind(path) == "int"
    lo, hi, dist = param.min, param.max, param.distribution
    if dist == "uniform":
        return tune.uniform(lo, hi)
    if dist == "log_uniform":
        return tune.loguniform(lo, hi)
    if dist == "int_uniform":
        return tune.randint(int(lo), int(hi) + 1)  # Tune's upper bound is exclusive
    # Quantized. Tune's integer samplers include the upper bound except for q == 1.
    q = param.q
    qlo, qhi = quantized_bounds(path, param)
    if is_int:
        if int(q) == 1:
            return tune.randint(qlo, qhi + 1) if dist == "q_uniform" else tune.lograndint(qlo, qhi + 1)
        return tune.qrandint(qlo, qhi, int(q)) if dist == "q_uniform" else tune.qlograndint(qlo, qhi, int(q))
    # Snapped bounds are multiples of q, which tune.quniform / tune.qloguniform insist on.
    return tune.quniform(qlo, qhi, q) if dist == "q_uniform" else tune.qloguniform(qlo, qhi, q)


def param_space(spec: StudySpec) -> dict[str, Any]:
    """One Tune domain (or constant, for ``value``) per searched parameter, by dotted path."""
    return {path: tune_domain(path, param, spec.search.method) for path, param in spec.search.parameters.items()}


def tuner_param_space(spec: StudySpec) -> dict[str, Any]:
    """What the Tuner gets as ``param_space``.

    Under an Optuna sampler, or a planned random/grid search, the searcher owns the searched
    parameters, so the Tuner only gets the constants (Tune refuses domains in both places,
    and a parameter in the Tuner's space would reach every trial, active or not).
    """
    return constants(spec) if uses_optuna(spec) or planned(spec) else param_space(spec)
