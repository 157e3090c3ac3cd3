"""Hyperparameter importance over a study's finished trials, with Optuna's fANOVA and PED-ANOVA.

The trials come from MLflow, not from an Optuna storage: an in-memory Optuna study is built
with one ``create_trial`` per finished trial (its searched values and one objective's value)
and distributions derived from the study's search space, then an evaluator scores the
parameters that vary:

* fANOVA (``optuna.importance.FanovaImportanceEvaluator``): how much of the objective's
  variance each parameter explains, by a random forest. It needs every parameter in every
  trial, so parameters that a conditional search (``when:``) left inactive in some trial are
  left out of it.
* PED-ANOVA (``optuna.importance.PedAnovaImportanceEvaluator``, Optuna 5's default): how much
  each parameter's distribution among the best trials (the top 10%) differs from its
  distribution over all trials. A trial in which a parameter was inactive does not count
  towards that parameter.

A trial's config holds only its active parameters (:func:`active_config`). With several
objectives, each objective gets its own importances. Below :data:`CAVEAT_TRIALS` finished
trials, every result carries a caveat.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

from tfcli.spec.conditions import active_parameters, is_conditional
from tfcli.spec.objective import Objective
from tfcli.spec.schema import StudySpec

#: fANOVA needs at least this many finished trials with a value.
MIN_TRIALS = 2
#: The random forest behind fANOVA. Optuna's default depth (64) costs about 20 s for 1,000
#: trials; depth 6 (at most 64 leaves a tree) takes about 0.5 s and, on the benchmark study,
#: moves no importance by more than 0.03.
N_TREES = 64
MAX_DEPTH = 6
#: PED-ANOVA's share of best trials (Optuna's default).
PED_ANOVA_QUANTILE = 0.1
#: Fewer finished trials than this: importances come with a caveat.
CAVEAT_TRIALS = 10

FANOVA = "fANOVA"
PED_ANOVA = "PED-ANOVA"


@dataclass(frozen=True)
class Importance:
    """Importances (summing to 1) by parameter, most important first; or why there are none."""

    metric: str
    importances: dict[str, float] = field(default_factory=dict)
    trials: int = 0
    constant: list[str] = field(default_factory=list)  # searched, but one value in every trial
    method: str = f"fANOVA (optuna FanovaImportanceEvaluator, {N_TREES} trees of depth <= {MAX_DEPTH}, seed 0)"
    note: Optional[str] = None
    kind: str = FANOVA  # fANOVA or PED-ANOVA: the label every view prints
    mode: Optional[str] = None
    inactive: list[str] = field(default_factory=list)  # left out: inactive in some trial (fANOVA only)

    @property
    def label(self) -> str:
        return f"{self.kind}, {self.metric}" + (f" ({self.mode})" if self.mode else "")

    @property
    def caveat(self) -> Optional[str]:
        """A warning when the importances rest on few trials."""
        if self.note or self.trials >= CAVEAT_TRIALS:
            return None
        return (
            f"only {self.trials} finished trial{'s' if self.trials != 1 else ''}: with fewer than {CAVEAT_TRIALS}, "
            "importances are a rough guide and can change a lot as trials are added"
        )

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "label": self.label,
            "metric": self.metric,
            "mode": self.mode,
            "method": self.method,
            "trials": self.trials,
            "importances": dict(self.importances),
            "constant": list(self.constant),
            "inactive": list(self.inactive),
            "note": self.note,
            "caveat": self.caveat,
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
    inactive = [p for p in parameters if p not in usable and any(p in c for c, _ in points)]
    varying = [p for p in usable if len({_hashable(c[p]) for c, _ in points}) > 1]
    constant = [p for p in usable if p not in varying]
    if not varying:
        return Importance(
            metric=metric,
            trials=len(points),
            constant=constant,
            mode=mode,
            inactive=inactive,
            note="importance needs a parameter that varies between finished trials, but every one took a single value"
            + (f" (left out, as inactive in some trials: {', '.join(inactive)})" if inactive else ""),
        )
    import optuna
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    distributions = {p: distribution_for(p, space.get(p), [c[p] for c, _ in points]) for p in varying}
    study = optuna.create_study(direction=Objective(metric, mode).direction)
    for config, value in points:
        params = {p: _hashable(config[p]) if p not in distributions or _categorical(distributions[p]) else config[p] for p in varying}
        study.add_trial(optuna.trial.create_trial(params=params, distributions=distributions, value=value))
    if len({v for _, v in points}) < 2:
        return Importance(
            metric=metric, trials=len(points), constant=constant, mode=mode, inactive=inactive,
            note=f"importance needs {metric} values that differ, but every finished trial scored {points[0][1]:g}",
        )
    try:
        scores = get_param_importances(study, evaluator=FanovaImportanceEvaluator(n_trees=N_TREES, max_depth=MAX_DEPTH, seed=seed), params=varying, normalize=True)
    except RuntimeError as err:  # fANOVA: "zero total variance in all trees"
        return Importance(metric=metric, trials=len(points), constant=constant, mode=mode, inactive=inactive, note=f"fANOVA found nothing to attribute ({err})")
    ordered = dict(sorted(((k, float(v)) for k, v in scores.items()), key=lambda kv: (-kv[1], kv[0])))
    return Importance(metric=metric, importances=ordered, trials=len(points), constant=constant, mode=mode, inactive=inactive)


def _skip(kind: str, method: str, metric: str, mode: str, trials: int, note: str, constant: Sequence[str] = ()) -> Importance:
    return Importance(metric=metric, trials=trials, constant=list(constant), method=method, note=note, kind=kind, mode=mode)


def ped_anova(
    points: Sequence[tuple[Mapping[str, Any], float]],
    parameters: Sequence[str],
    space: Mapping[str, Mapping[str, Any]],
    mode: str,
    metric: str,
) -> Importance:
    """PED-ANOVA importances of ``parameters`` over ``points`` = ``[(config, value), ...]``;
    a parameter missing from a config (inactive in that trial) is left out for that trial."""
    method = f"PED-ANOVA (optuna PedAnovaImportanceEvaluator, top {int(PED_ANOVA_QUANTILE * 100)}% of trials against all)"
    points = [(c, float(v)) for c, v in points if v is not None and math.isfinite(float(v))]
    if len(points) < MIN_TRIALS:
        note = f"importance needs at least {MIN_TRIALS} finished trials with a {metric} value, but the study has {len(points)}"
        return _skip(PED_ANOVA, method, metric, mode, len(points), note)
    if not parameters:
        return _skip(PED_ANOVA, method, metric, mode, len(points), "importance needs searched parameters, but the study searches none")
    present = [p for p in parameters if any(p in c for c, _ in points)]
    varying = [p for p in present if len({_hashable(c[p]) for c, _ in points if p in c}) > 1]
    constant = [p for p in present if p not in varying]
    if not varying:
        note = "importance needs a parameter that varies between finished trials, but every one took a single value"
        return _skip(PED_ANOVA, method, metric, mode, len(points), note, constant)
    if len({v for _, v in points}) < 2:
        note = f"importance needs {metric} values that differ, but every finished trial scored {points[0][1]:g}"
        return _skip(PED_ANOVA, method, metric, mode, len(points), note, constant)

    import optuna
    from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    distributions = {p: distribution_for(p, space.get(p), [c[p] for c, _ in points if p in c]) for p in varying}
    study = optuna.create_study(direction=Objective(metric, mode).direction)
    for config, value in points:
        active = [p for p in varying if p in config]
        params = {p: _hashable(config[p]) if _categorical(distributions[p]) else config[p] for p in active}
        study.add_trial(optuna.trial.create_trial(params=params, distributions={p: distributions[p] for p in active}, value=value))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "too few trials in a regime", "importances will be equal"
        scores = get_param_importances(
            study, evaluator=PedAnovaImportanceEvaluator(target_quantile=PED_ANOVA_QUANTILE), params=varying, normalize=True
        )
    values = {k: float(v) for k, v in scores.items()}
    if not any(v > 0 for v in values.values()):
        note = "PED-ANOVA found no difference between the best trials and the rest"
        return _skip(PED_ANOVA, method, metric, mode, len(points), note, constant)
    ordered = dict(sorted(values.items(), key=lambda kv: (-kv[1], kv[0])))
    return Importance(metric=metric, importances=ordered, trials=len(points), constant=constant, method=method, kind=PED_ANOVA, mode=mode)


def stored_spec(spec_json: Optional[str]) -> Optional[StudySpec]:
    """The study's spec, validated again from its stored JSON; None when that fails."""
    if not spec_json:
        return None
    try:
        return StudySpec.model_validate(json.loads(spec_json))
    except Exception:  # an older or foreign spec: fall back to what the configs hold
        return None


def active_config(config: Mapping[str, Any], params: Mapping[str, Any], parameters: Sequence[str], spec: Optional[StudySpec]) -> dict[str, Any]:
    """The searched ``parameters`` that a trial set, with its values: those in its ``config``
    (a conditional search leaves an inactive parameter out of it), kept only when the study's
    ``when:`` conditions hold (:func:`tfcli.spec.conditions.active_parameters`). A trial
    logged without a config falls back to its params."""
    values = {p: config[p] for p in parameters if p in config}
    if not config:
        values = {p: params[p] for p in parameters if p in params}
    if spec is not None and is_conditional(spec):
        active = set(active_parameters(spec, values))
        values = {p: v for p, v in values.items() if p in active or p not in spec.search.parameters}
    return values


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
