"""Rules of the search section: each parameter's value, values or distribution against its
field, ``when:`` conditions, the method's limits and ``search.initial``'s points."""

from __future__ import annotations

import difflib
import math
from typing import Iterator

from pydantic import ValidationError

from tfcli.spec.conditions import allowed_values, cycle_of, point_problems, value_among
from tfcli.spec.fields import field_kind, is_integral, searchable_paths, value_problem
from tfcli.spec.constraints import CONSTRAINED_METHODS, parse_constraint
from tfcli.spec.problems import Problem, section
from tfcli.spec.schema import ParamSpec, SchedulerSpec, SearchSpec, TaskSpec
from tfcli.spec.tasks import TASKS

#: Methods that sample through Optuna (Ray Tune's OptunaSearch).
OPTUNA_METHODS = ("tpe", "gp", "cmaes", "qmc", "nsga2")
#: Optuna samplers that optimise several objectives at once (a Pareto front). CmaEsSampler
#: raises on a study with several directions; random and grid ignore the objectives.
MULTI_OBJECTIVE_METHODS = ("tpe", "gp", "qmc", "nsga2", "random", "grid")


def _param_problems(name: str, param: ParamSpec, method: str) -> Iterator[Problem]:
    where = ("search", "parameters", name)
    given = param.model_fields_set & {"value", "values", "distribution"}
    if not given:
        yield where, "needs one of value, values or distribution"
        return
    if len(given) > 1:
        yield where, f"give only one of value, values or distribution, but got {', '.join(sorted(given))}"
        return
    kind = field_kind(name)
    if param.kind == "value":
        problem = value_problem(name, param.value)
        if problem:
            yield (*where, "value"), problem
        return
    if param.kind == "values":
        yield from _values_problems(name, param, where)
        return
    yield from _distribution_problems(name, param, method, kind, where)


def _values_problems(name: str, param: ParamSpec, where: tuple) -> Iterator[Problem]:
    """Problems of a parameter given as a list of values: empty, or a value the field refuses."""
    if not param.values:
        yield (*where, "values"), "must list at least one value, but got an empty list"
        return
    for index, value in enumerate(param.values):
        problem = value_problem(name, value)
        if problem:
            yield (*where, "values", index), problem


def _distribution_problems(
    name: str, param: ParamSpec, method: str, kind: str, where: tuple
) -> Iterator[Problem]:
    """Problems of a parameter given as a distribution; the bounds are checked only once both
    are given and finite."""
    if method == "grid":
        yield (*where, "distribution"), (
            f"grid search takes values only, but this parameter has distribution {param.distribution!r}; "
            "list its values or use method random, tpe, gp, qmc or nsga2"
        )
    if kind == "categorical":
        yield (*where, "distribution"), f"{name} takes a fixed set of values; give them as values, not a distribution"
        return
    lo, hi = param.min, param.max
    if lo is None:
        yield (*where, "min"), f"distribution {param.distribution} needs min"
    if hi is None:
        yield (*where, "max"), f"distribution {param.distribution} needs max"
    if lo is None or hi is None:
        return
    if not (math.isfinite(lo) and math.isfinite(hi)):
        yield where, f"min and max must be finite numbers, but got (min={lo}, max={hi})"
        return
    yield from _distribution_setting_problems(name, param, kind, where)
    yield from _bound_value_problems(name, param, kind, where)


def _distribution_setting_problems(name: str, param: ParamSpec, kind: str, where: tuple) -> Iterator[Problem]:
    """Whether the finite bounds, q and the distribution fit each other and the field's type."""
    lo, hi = param.min, param.max
    if not lo < hi:
        yield (*where, "min"), f"min < max must hold, but got (min={lo:g}, max={hi:g})"
    if param.distribution in ("log_uniform", "q_log_uniform") and lo <= 0:
        yield (*where, "min"), f"{param.distribution} needs min > 0 (its bounds are the values themselves), but got min={lo:g}"
    if param.distribution in ("q_uniform", "q_log_uniform"):
        if param.q is None or not (param.q > 0 and math.isfinite(param.q)):
            yield (*where, "q"), f"{param.distribution} needs a step q > 0, but got q={param.q}"
        elif kind == "int" and not is_integral(param.q):
            yield (*where, "q"), f"{name} takes integers, so q must be a whole number, but got q={param.q:g}"
    elif param.q is not None:
        yield (*where, "q"), f"q is only used by q_uniform and q_log_uniform, but distribution is {param.distribution}"
    if param.distribution == "int_uniform" and not (is_integral(lo) and is_integral(hi)):
        yield where, f"int_uniform needs whole-number bounds, but got (min={lo:g}, max={hi:g})"
    if kind == "int" and param.distribution in ("uniform", "log_uniform"):
        yield (*where, "distribution"), (
            f"{name} takes integers, but {param.distribution} produces fractions; use int_uniform or q_uniform"
        )


def _bound_value_problems(name: str, param: ParamSpec, kind: str, where: tuple) -> Iterator[Problem]:
    """Bounds the field itself refuses (min is skipped when a log distribution already refused it)."""
    lo, hi = param.min, param.max
    log_min_reported = param.distribution in ("log_uniform", "q_log_uniform") and lo <= 0
    for bound_name, bound, reported in (("min", lo, log_min_reported), ("max", hi, False)):
        if reported:
            continue
        value = int(bound) if kind == "int" and is_integral(bound) else bound
        problem = value_problem(name, value)
        if problem:
            yield (*where, bound_name), problem


def search_problems(data: dict) -> Iterator[Problem]:
    search = data.get("search")
    if not isinstance(search, dict) or not isinstance(search.get("parameters"), dict):
        return
    method = search.get("method", "random")
    known = searchable_paths()
    for name, raw in search["parameters"].items():
        where = ("search", "parameters", name)
        if not isinstance(name, str) or name not in known:
            close = difflib.get_close_matches(str(name), known, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else "; name a field as section.field, e.g. model.d_model or train.lr"
            yield where, f"names no field of the study{hint}"
            continue
        try:
            param = ParamSpec.model_validate(raw if raw is not None else {})
        except (ValidationError, RecursionError, TypeError):
            continue
        yield from _param_problems(name, param, method)


def _search_params(data: dict) -> dict[str, ParamSpec]:
    """The search parameters that validate on their own and name a field, by path."""
    search = data.get("search")
    if not isinstance(search, dict) or not isinstance(search.get("parameters"), dict):
        return {}
    known = set(searchable_paths())
    params = {}
    for name, raw in search["parameters"].items():
        if not isinstance(name, str) or name not in known:
            continue
        try:
            params[name] = ParamSpec.model_validate(raw if raw is not None else {})
        except (ValidationError, RecursionError, TypeError):
            continue
    return params


def condition_problems(data: dict) -> Iterator[Problem]:
    """``when:``: on a searched parameter, naming other searched ``values`` parameters and
    values they can take, without a cycle; PBT cannot perturb a conditional parameter or a parent."""
    params = _search_params(data)
    raw_params = data["search"]["parameters"] if params else {}
    whens = {name: p.when for name, p in params.items() if p.when is not None}
    for name, when in whens.items():
        where = ("search", "parameters", name, "when")
        param = params[name]
        if param.kind == "value":
            yield where, f"{name} is a constant (value), the same in every trial; when: applies to searched parameters (values or a distribution)"
            continue
        if not when:
            yield where, "must name at least one parameter, e.g. when: {train.schedule: inverse_sqrt}"
            continue
        for parent, accepted in when.items():
            at = (*where, parent)
            if parent == name:
                yield at, f"{name} cannot depend on itself"
                continue
            if parent not in raw_params:
                searched = [n for n, p in params.items() if p.kind == "values" and n != name]
                close = difflib.get_close_matches(str(parent), searched, n=1, cutoff=0.6)
                hint = f"did you mean {close[0]!r}? " if close else ""
                yield at, f"{parent!r} is not a searched parameter; {hint}a condition names a searched values parameter: {', '.join(searched) or 'none'}"
                continue
            parent_param = params.get(parent)
            if parent_param is None:
                continue  # reported where the parent is defined
            if parent_param.kind != "values":
                what = "a constant (value)" if parent_param.kind == "value" else f"a distribution ({parent_param.distribution})"
                yield at, f"{parent} is {what}; a condition names a searched categorical parameter, given as values: [...]"
                continue
            values = allowed_values(accepted)
            if not values:
                yield at, f"must give a value of {parent} (or a list of them), but got an empty list"
            for value in values:
                if not value_among(value, parent_param.values or []):
                    yield at, f"{parent} never takes {value!r}; its values are {parent_param.values}"
    reported: set[str] = set()
    for name in whens:
        if name in reported or params[name].kind == "value":
            continue
        cycle = cycle_of(whens, name)
        if cycle:
            reported.update(cycle)
            yield ("search", "parameters", name, "when"), f"conditions form a cycle: {' -> '.join(cycle)}; a parameter cannot depend on itself"
    yield from _pbt_condition_problems(data, params)


def _pbt_condition_problems(data: dict, params: dict[str, ParamSpec]) -> Iterator[Problem]:
    scheduler = section(data, "scheduler", SchedulerSpec)
    if scheduler is None or scheduler.type != "pbt":
        return
    conditional = {n for n, p in params.items() if p.when and p.kind != "value"}
    parents = {parent for n in conditional for parent in params[n].when}
    if not conditional:
        return
    if scheduler.mutations is not None:
        named = list(enumerate(scheduler.mutations))
    else:
        named = [(None, n) for n, p in params.items() if p.kind != "value" and n.split(".", 1)[0] in ("train", "eval")]
    for index, name in named:
        if name not in conditional and name not in parents:
            continue
        role = "is conditional (when:)" if name in conditional else "decides whether a conditional parameter is searched"
        where = ("scheduler", "mutations", index) if index is not None else ("scheduler", "type")
        yield where, (
            f"pbt cannot perturb {name}: it {role}, and a perturbed trial would set a parameter its condition leaves out; "
            "list scheduler.mutations without the conditional parameters and their parents"
        )


def method_problems(data: dict) -> Iterator[Problem]:
    """cmaes samples numbers only; several objectives need a sampler that optimises them all."""
    search = section(data, "search", SearchSpec)
    method = data.get("search", {}).get("method") if isinstance(data.get("search"), dict) else None
    if method == "cmaes":
        for name, param in _search_params(data).items():
            if param.kind == "values":
                yield ("search", "parameters", name, "values"), (
                    f"cmaes samples continuous and integer parameters only, but {name} is a list of values; "
                    "use method tpe or gp, or give it as a distribution"
                )
    raw = data.get("objective")
    if isinstance(raw, list) and len(raw) > 1 and search is not None and search.method not in MULTI_OBJECTIVE_METHODS:
        yield ("search", "method"), (
            f"{search.method} optimises one objective, but the study has {len(raw)}; "
            f"use method {', '.join(m for m in MULTI_OBJECTIVE_METHODS if m in OPTUNA_METHODS)} (or random or grid), or give one objective"
        )


#: Methods whose sampler learns from earlier trials, so that a warm start can change what they draw.
LEARNING_METHODS = ("tpe", "gp", "cmaes", "nsga2")


def warm_start_problems(data: dict) -> Iterator[Problem]:
    """``search.warm_start``: only a searcher that learns from earlier trials can use them, and
    a study's own trials are what ``extend`` is for. Whether the named study exists, and has
    this task and objectives, needs the store: :func:`tfcli.study.warm_start.check_warm_start`."""
    search = data.get("search")
    if not isinstance(search, dict) or not isinstance(search.get("warm_start"), dict):
        return
    method = search.get("method", "random")
    if method not in LEARNING_METHODS:
        yield ("search", "warm_start"), (
            f"search.method {method} does not learn from earlier trials, so a warm start changes nothing; "
            f"use one of {', '.join(LEARNING_METHODS)}, or remove search.warm_start"
        )
    if search["warm_start"].get("study") is not None and search["warm_start"].get("study") == data.get("name"):
        yield ("search", "warm_start", "study"), "a study cannot warm-start from itself; add trials with `tfcli study extend NAME --num-samples N`"


def initial_problems(data: dict) -> Iterator[Problem]:
    """``search.initial``: a list of points, each inside the space (see
    :func:`tfcli.spec.conditions.point_problems`); not under grid, which runs every combination."""
    search = data.get("search")
    if not isinstance(search, dict) or search.get("initial") is None:
        return
    initial = search["initial"]
    if not isinstance(initial, list):
        return  # the schema reports the type
    method = search.get("method", "random")
    if method == "grid" and initial:
        yield ("search", "initial"), (
            "grid search runs every combination of the values once per pass, so there is nothing to start from; "
            "remove search.initial or use method random, tpe, gp, cmaes, qmc or nsga2"
        )
        return
    samples = search.get("num_samples", 1)
    if isinstance(samples, int) and not isinstance(samples, bool) and len(initial) > samples:
        yield ("search", "initial"), f"gives {len(initial)} starting points, but the study runs num_samples={samples} trials; give at most {samples}"
    params = _search_params(data)
    for index, point in enumerate(initial):
        if not isinstance(point, dict):
            continue
        if not point:
            yield ("search", "initial", index), "a starting point must give at least one searched parameter"
            continue
        for key, message in point_problems(params, point, field_kind):
            yield ("search", "initial", index, key) if key is not None else ("search", "initial", index), message


def constraint_problems(data: dict) -> Iterator[Problem]:
    """``search.constraints``: each ``METRIC <= BOUND`` or ``METRIC >= BOUND`` on a metric the
    task's evaluations log, under a method whose sampler learns constraints."""
    search = data.get("search")
    if not isinstance(search, dict) or not isinstance(search.get("constraints"), list) or not search["constraints"]:
        return
    method = search.get("method", "random")
    if isinstance(method, str) and method not in CONSTRAINED_METHODS:
        yield ("search", "constraints"), (
            f"search.method {method} has no constraint support (Optuna's is in {', '.join(CONSTRAINED_METHODS)}), "
            f"so the searcher would keep drawing configurations over the limits; use method {' or '.join(CONSTRAINED_METHODS)}"
        )
    task = section(data, "task", TaskSpec)
    logged = TASKS[task.type].objective_metrics if task is not None else None
    for index, text in enumerate(search["constraints"]):
        if not isinstance(text, str):
            continue  # the schema reports the type
        try:
            constraint = parse_constraint(text)
        except ValueError as err:
            yield ("search", "constraints", index), str(err)
            continue
        if logged is not None and constraint.metric not in logged:
            close = difflib.get_close_matches(constraint.metric, logged, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            yield ("search", "constraints", index), (
                f"task {task.type} does not log metric {constraint.metric!r}; {hint}a constraint names one of: {', '.join(logged)}"
            )
