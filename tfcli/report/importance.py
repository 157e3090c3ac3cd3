"""Hyperparameter importance over a study's finished trials, with Optuna's fANOVA.

The trials come from MLflow, not from an Optuna storage: an in-memory Optuna study is built
with one ``create_trial`` per finished trial (its searched values and its ranking value) and
distributions derived from the study's search space, then
``optuna.importance.FanovaImportanceEvaluator`` scores the parameters that vary.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

#: fANOVA needs at least this many finished trials with a value.
MIN_TRIALS = 2
#: The random forest behind fANOVA. Optuna's default depth (64) costs about 20 s for 1,000
#: trials; depth 6 (at most 64 leaves a tree) takes about 0.5 s and, on the benchmark study,
#: moves no importance by more than 0.03.
N_TREES = 64
MAX_DEPTH = 6


@dataclass(frozen=True)
class Importance:
    """Importances (summing to 1) by parameter, most important first; or why there are none."""

    metric: str
    importances: dict[str, float] = field(default_factory=dict)
    trials: int = 0
    constant: list[str] = field(default_factory=list)  # searched, but one value in every trial
    method: str = f"fANOVA (optuna FanovaImportanceEvaluator, {N_TREES} trees of depth <= {MAX_DEPTH}, seed 0)"
    note: Optional[str] = None

    def to_dict(self) -> dict:
        return {
            "metric": self.metric,
            "method": self.method,
            "trials": self.trials,
            "importances": dict(self.importances),
            "constant": list(self.constant),
            "note": self.note,
        }


def _hashable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value, sort_keys=True)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def distribution_for(name: str, spec: Optional[Mapping[str, Any]], observed: Sequence[Any]):
    """The Optuna distribution of a searched parameter, widened to hold every observed value."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    spec = spec or {}
    kind = spec.get("distribution")
    numeric = all(_is_number(v) for v in observed)
    if kind and numeric:
        low = min([float(v) for v in observed] + ([float(spec["min"])] if spec.get("min") is not None else []))
        high = max([float(v) for v in observed] + ([float(spec["max"])] if spec.get("max") is not None else []))
        if kind == "int_uniform" and all(float(v).is_integer() for v in observed):
            return IntDistribution(int(math.floor(low)), int(math.ceil(high)))
        log = kind in ("log_uniform", "q_log_uniform") and low > 0
        return FloatDistribution(low, high, log=log)
    if spec.get("values") is not None:
        choices = list(dict.fromkeys(_hashable(v) for v in list(spec["values"]) + list(observed)))
        return CategoricalDistribution(choices)
    # No spec for it: numbers become a float range, anything else categories.
    if numeric:
        return FloatDistribution(float(min(observed)), float(max(observed)))
    return CategoricalDistribution(list(dict.fromkeys(_hashable(v) for v in observed)))


def fanova(
    points: Sequence[tuple[Mapping[str, Any], float]],
    parameters: Sequence[str],
    space: Mapping[str, Mapping[str, Any]],
    mode: str,
    metric: str,
    *,
    seed: int = 0,
) -> Importance:
    """fANOVA importances of ``parameters`` over ``points`` = ``[(config, value), ...]``.

    ``space`` maps a parameter to its search-space entry (``{"distribution": ..., "min": ...}``
    or ``{"values": [...]}``) from the study file. Skipped, with a ``note``, when fewer than
    :data:`MIN_TRIALS` points have a finite value or no parameter takes two values.
    """
    points = [(c, float(v)) for c, v in points if v is not None and math.isfinite(float(v))]
    if len(points) < MIN_TRIALS:
        return Importance(
            metric=metric,
            trials=len(points),
            note=f"importance needs at least {MIN_TRIALS} finished trials with a {metric} value, but the study has {len(points)}",
        )
    if not parameters:
        return Importance(metric=metric, trials=len(points), note="importance needs searched parameters, but the study searches none")
    usable = [p for p in parameters if all(p in c for c, _ in points)]
    varying = [p for p in usable if len({_hashable(c[p]) for c, _ in points}) > 1]
    constant = [p for p in usable if p not in varying]
    if not varying:
        return Importance(
            metric=metric,
            trials=len(points),
            constant=constant,
            note="importance needs a parameter that varies between finished trials, but every one took a single value",
        )
    import optuna
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    distributions = {p: distribution_for(p, space.get(p), [c[p] for c, _ in points]) for p in varying}
    study = optuna.create_study(direction="maximize" if mode == "max" else "minimize")
    for config, value in points:
        params = {p: _hashable(config[p]) if p not in distributions or _categorical(distributions[p]) else config[p] for p in varying}
        study.add_trial(optuna.trial.create_trial(params=params, distributions=distributions, value=value))
    if len({v for _, v in points}) < 2:
        return Importance(metric=metric, trials=len(points), constant=constant, note=f"importance needs {metric} values that differ, but every finished trial scored {points[0][1]:g}")
    try:
        scores = get_param_importances(study, evaluator=FanovaImportanceEvaluator(n_trees=N_TREES, max_depth=MAX_DEPTH, seed=seed), params=varying, normalize=True)
    except RuntimeError as err:  # fANOVA: "zero total variance in all trees"
        return Importance(metric=metric, trials=len(points), constant=constant, note=f"fANOVA found nothing to attribute ({err})")
    ordered = dict(sorted(((k, float(v)) for k, v in scores.items()), key=lambda kv: (-kv[1], kv[0])))
    return Importance(metric=metric, importances=ordered, trials=len(points), constant=constant)


def _categorical(distribution) -> bool:
    from optuna.distributions import CategoricalDistribution

    return isinstance(distribution, CategoricalDistribution)


def search_space(spec_json: Optional[str]) -> dict[str, dict]:
    """``search.parameters`` of a spec in JSON (empty when there is none)."""
    if not spec_json:
        return {}
    try:
        parameters = (json.loads(spec_json).get("search") or {}).get("parameters") or {}
    except (ValueError, AttributeError):
        return {}
    return {k: dict(v) for k, v in parameters.items() if isinstance(v, Mapping)}
