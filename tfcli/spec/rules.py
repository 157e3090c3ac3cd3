"""Rules that relate several fields of a study file.

Each section is validated on its own first, so these checks still run (and their problems are
still reported) when some other section of the file is broken.
"""

from __future__ import annotations

import difflib
import itertools
import math
import typing
from pathlib import Path
from typing import Any, Iterator

from pydantic import BaseModel, ValidationError

from tfcli.spec.architecture import attention_problem
from tfcli.spec.conditions import allowed_values, cycle_of, point_problems, value_among
from tfcli.spec.tasks import TASKS
from tfcli.spec.schema import (
    SEARCHABLE_SECTIONS,
    DataFiles,
    ModelSpec,
    ObjectiveSpec,
    ParamSpec,
    SchedulerSpec,
    SearchSpec,
    TaskSpec,
    TrainSpec,
)

Problem = tuple[tuple[Any, ...], str]

#: Beyond this many values a space counts as "continuous" for enumeration.
_ENUMERATION_LIMIT = 100_000


def _section(data: dict, name: str, model: type[BaseModel]) -> BaseModel | None:
    raw = data.get(name, {})
    if raw is None:
        raw = {}
    try:
        return model.model_validate(raw)
    except (ValidationError, RecursionError, OverflowError, TypeError):
        return None


def searchable_paths() -> list[str]:
    return [f"{section}.{name}" for section, model in SEARCHABLE_SECTIONS.items() for name in model.model_fields]


def field_annotation(path: str) -> Any:
    section, name = path.split(".", 1)
    return SEARCHABLE_SECTIONS[section].model_fields[name].annotation


def _base_type(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin is typing.Union or str(origin) == "types.UnionType":
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _base_type(args[0]) if len(args) == 1 else annotation
    return annotation


def field_kind(path: str) -> str:
    """``int``, ``float`` or ``categorical`` (literals, booleans, strings)."""
    base = _base_type(field_annotation(path))
    if base is int:
        return "int"
    if base is float:
        return "float"
    return "categorical"


def value_problem(path: str, value: Any) -> str | None:
    """Why ``value`` is not allowed for the field at ``path``, or None."""
    section, name = path.split(".", 1)
    try:
        SEARCHABLE_SECTIONS[section].model_validate({name: value})
    except ValidationError as err:
        for item in err.errors(include_url=False):
            if item["loc"][:1] == (name,):
                return f"{item['msg'][:1].lower()}{item['msg'][1:]}, but got {value!r}"
        return str(err)
    except (RecursionError, OverflowError, TypeError) as err:
        return f"not a valid value ({type(err).__name__}): {value!r}"
    return None


def _is_integral(number: float | None) -> bool:
    return number is not None and math.isfinite(number) and float(number).is_integer()


def param_values(param: ParamSpec, kind: str) -> list[Any] | None:
    """Every value a parameter can produce, or None when there are too many to list."""
    if param.kind == "value":
        return [param.value]
    if param.kind == "values":
        return list(param.values or [])
    lo, hi = param.min, param.max
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        return None
    if param.distribution == "int_uniform" and _is_integral(lo) and _is_integral(hi):
        if hi - lo + 1 > _ENUMERATION_LIMIT:
            return None
        return list(range(int(lo), int(hi) + 1))
    if param.distribution in ("q_uniform", "q_log_uniform") and param.q and param.q > 0 and kind == "int":
        lo_k, hi_k = quantized_indices(lo, hi, param.q, log=param.distribution == "q_log_uniform")
        if hi_k - lo_k + 1 > _ENUMERATION_LIMIT:
            return None
        return [k * int(param.q) for k in range(lo_k, hi_k + 1)]
    return None


def quantized_indices(lo: float, hi: float, q: float, *, log: bool = False) -> tuple[int, int]:
    """Indices ``k`` of the multiples ``k * q`` a quantized distribution can give in
    ``[lo, hi]`` (bounds rounded inwards; a log scale cannot give 0 or less, so ``k >= 1``).
    The range is empty when the second index is below the first."""

    def index(bound: float, rounding) -> int:
        scaled = bound / q
        nearest = round(scaled)
        return int(nearest) if math.isclose(scaled, nearest, rel_tol=1e-9, abs_tol=1e-9) else int(rounding(scaled))

    lo_k, hi_k = index(lo, math.ceil), index(hi, math.floor)
    return (max(lo_k, 1), hi_k) if log else (lo_k, hi_k)


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
        elif kind == "int" and not _is_integral(param.q):
            yield (*where, "q"), f"{name} takes integers, so q must be a whole number, but got q={param.q:g}"
    elif param.q is not None:
        yield (*where, "q"), f"q is only used by q_uniform and q_log_uniform, but distribution is {param.distribution}"
    if param.distribution == "int_uniform" and not (_is_integral(lo) and _is_integral(hi)):
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
        value = int(bound) if kind == "int" and _is_integral(bound) else bound
        problem = value_problem(name, value)
        if problem:
            yield (*where, bound_name), problem


def _search_problems(data: dict) -> Iterator[Problem]:
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


def _possible(data: dict, model: ModelSpec | None, path: str) -> list[Any] | None:
    """The values the space can give the field at ``path``: searched, or the model default."""
    search = _section(data, "search", SearchSpec)
    if search is not None and path in search.parameters:
        values = param_values(search.parameters[path], field_kind(path))
        if values is None or any(value_problem(path, v) for v in values):
            return None
        return values
    name = path.split(".", 1)[1]
    if model is not None:
        return [getattr(model, name)]
    raw = data.get("model") if isinstance(data.get("model"), dict) else {}
    value = raw.get(name, ModelSpec.model_fields[name].default)
    return None if value_problem(path, value) else [value]


def _heads_problems(data: dict) -> Iterator[Problem]:
    model = _section(data, "model", ModelSpec)
    d_models = _possible(data, model, "model.d_model")
    heads = _possible(data, model, "model.heads")
    if not d_models or not heads:
        return
    search = data.get("search") if isinstance(data.get("search"), dict) else {}
    params = search.get("parameters") if isinstance(search.get("parameters"), dict) else {}
    if "model.heads" in params:
        where: tuple = ("search", "parameters", "model.heads")
    elif "model.d_model" in params:
        where = ("search", "parameters", "model.d_model")
    else:
        where = ("model", "heads")
    positionals = sorted(set(_possible(data, model, "model.positional") or [""]))
    for positional, d, h in itertools.product(positionals, sorted(set(d_models)), sorted(set(heads))):
        problem = attention_problem(d, h, positional)
        if problem:
            yield where, f"every value the space can produce must build a model: {problem}"
            return


def _task_problems(data: dict, base_dir: Path) -> Iterator[Problem]:
    task = _section(data, "task", TaskSpec)
    if task is None:
        return
    info = TASKS[task.type]
    scheduler = _section(data, "scheduler", SchedulerSpec)
    named = [((*where, "metric"), objective.metric) for where, objective in _objectives(data)]
    if scheduler is not None and scheduler.metric is not None:
        named.append((("scheduler", "metric"), scheduler.metric))
    for where, metric in named:
        if metric not in info.objective_metrics:
            close = difflib.get_close_matches(metric, info.objective_metrics, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            yield where, (
                f"task {task.type} does not produce metric {metric!r}; {hint}choose one of: {', '.join(info.objective_metrics)}"
            )
    name = task.builtin_name
    if name is not None and name not in info.builtin_sets:
        yield ("task", "data"), (
            f"{task.type} has no built-in data set {name!r}; choose one of: "
            + ", ".join(f"builtin:{n}" for n in info.builtin_sets)
        )
    if isinstance(task.data, DataFiles):
        for split in ("train", "valid", "test"):
            path = getattr(task.data, split)
            if path is None:
                continue
            resolved = Path(path).expanduser()
            if not resolved.is_absolute():
                resolved = base_dir / resolved
            if not resolved.is_file():
                yield ("task", "data", split), f"data file not found: {path} (looked for {resolved}; relative paths start at the study file's folder)"


def _objectives(data: dict) -> list[tuple[tuple[Any, ...], ObjectiveSpec]]:
    """The study's objectives that validate on their own, each with its place in the file."""
    raw = data.get("objective")
    entries = [(("objective",), raw)] if isinstance(raw, dict) else [(("objective", i), r) for i, r in enumerate(raw or [])] if isinstance(raw, list) else []
    valid = []
    for where, entry in entries:
        try:
            valid.append((where, ObjectiveSpec.model_validate(entry)))
        except (ValidationError, TypeError):
            continue
    return valid


#: Schedulers that stop or exploit trials by one metric.
ONE_METRIC_SCHEDULERS = ("asha", "hyperband", "pbt")


def _objective_problems(data: dict) -> Iterator[Problem]:
    """Several objectives: a non-empty list of distinct metrics, and a scheduler that knows which
    one to act on (``scheduler.metric``, one of them)."""
    raw = data.get("objective")
    if isinstance(raw, list) and not raw:
        yield ("objective",), "must name at least one metric: {metric: NAME, mode: max|min}, or a list of them"
        return
    objectives = _objectives(data)
    seen: dict[str, int] = {}
    for where, objective in objectives:
        if objective.metric in seen:
            yield (*where, "metric"), f"each objective must be a different metric, but {objective.metric!r} is also objective {seen[objective.metric]}"
        seen.setdefault(objective.metric, where[-1] if len(where) > 1 else 0)
    scheduler = _section(data, "scheduler", SchedulerSpec)
    if scheduler is None:
        return
    metrics = [o.metric for _, o in objectives]
    several = isinstance(raw, list) and len(raw) > 1
    # scheduler.metric may be any metric the evaluations log (checked in _task_problems).
    if scheduler.metric is not None and scheduler.type not in ONE_METRIC_SCHEDULERS:
        yield ("scheduler", "metric"), f"is only used by the {', '.join(ONE_METRIC_SCHEDULERS)} schedulers, but type is {scheduler.type}"
    elif several and scheduler.type in ONE_METRIC_SCHEDULERS and scheduler.metric is None:
        yield ("scheduler", "type"), (
            f"{scheduler.type} stops trials by one metric, but the study has {len(raw)} objectives; "
            f"set scheduler.metric to one of them ({', '.join(metrics)}) or use scheduler type fifo"
        )


def lockstep_problem(scheduler_type: str, max_concurrent: int | None, trials: int) -> str | None:
    """Why ``hyperband`` under a concurrency limit below the study's trial count cannot work.

    Tune's HyperBand is synchronous: it pauses each trial at its bracket's milestone and halves
    the bracket once every trial in it is there. Ray counts the paused trials against the
    searcher's concurrency limit, so the rest of the bracket never starts, the paused trials
    are resumed and nothing is stopped (benchmarks/asha_vs_fifo.py, Ray 2.60: 16 trials under
    max_concurrent 2 all trained to the end). ``trials``: the trials this run starts.
    """
    if scheduler_type != "hyperband" or max_concurrent is None or max_concurrent >= trials:
        return None
    return (
        f"hyperband halves a bracket only once all its trials have paused at the same step, and Ray counts paused "
        f"trials against max_concurrent ({max_concurrent}, fewer than the {trials} trials), so it would stop none; "
        "leave max_concurrent out (the CPUs each trial asks for still limit how many run at once) "
        "or use scheduler {type: asha, brackets: 3}, asynchronous HyperBand"
    )


def _schedule_problems(data: dict) -> Iterator[Problem]:
    train = _section(data, "train", TrainSpec)
    scheduler = _section(data, "scheduler", SchedulerSpec)
    search = _section(data, "search", SearchSpec)
    if scheduler is not None and search is not None:
        # Under grid the study runs more trials than num_samples; lifecycle checks the full count.
        lockstep = lockstep_problem(scheduler.type, search.max_concurrent, search.num_samples)
        if lockstep:
            yield ("search", "max_concurrent"), lockstep
    if train is not None and train.eval_every > train.max_steps:
        yield ("train", "eval_every"), (
            f"eval_every <= max_steps must hold (a trial must evaluate at least once), "
            f"but got (eval_every={train.eval_every}, max_steps={train.max_steps})"
        )
    if scheduler is None:
        return
    max_t = scheduler.max_t or (train.max_steps if train is not None else None)
    if scheduler.grace_period is not None and max_t is not None and scheduler.grace_period > max_t:
        yield ("scheduler", "grace_period"), f"grace_period <= max_t must hold, but got (grace_period={scheduler.grace_period}, max_t={max_t})"
    if scheduler.type != "pbt":
        for key in ("perturbation_interval", "mutations"):
            if getattr(scheduler, key) is not None:
                yield ("scheduler", key), f"{key} is only used by the pbt scheduler, but type is {scheduler.type}"
        return
    if search is None:
        return
    if search.method != "random":
        yield ("scheduler", "type"), f"pbt explores by perturbing trials and needs search.method random, but got {search.method}"
    perturbable = [n for n, p in search.parameters.items() if p.kind != "value" and n.split(".", 1)[0] in ("train", "eval")]
    if not perturbable:
        yield ("scheduler", "type"), (
            "pbt needs at least one searched train.* or eval.* parameter (values or a distribution) to perturb; "
            "model.* and data.* settings cannot change under a running model"
        )
    for index, name in enumerate(scheduler.mutations or []):
        if name not in search.parameters:
            yield ("scheduler", "mutations", index), f"{name!r} is not a searched parameter; choose from: {', '.join(search.parameters) or 'none'}"
        elif name.split(".", 1)[0] not in ("train", "eval"):
            yield ("scheduler", "mutations", index), (
                f"pbt cannot perturb {name!r}: a trial continues from another trial's checkpoint, so only train.* and eval.* settings can change"
            )


#: Methods that sample through Optuna (Ray Tune's OptunaSearch).
OPTUNA_METHODS = ("tpe", "gp", "cmaes", "qmc", "nsga2")
#: Optuna samplers that optimise several objectives at once (a Pareto front). CmaEsSampler
#: raises on a study with several directions; random and grid ignore the objectives.
MULTI_OBJECTIVE_METHODS = ("tpe", "gp", "qmc", "nsga2", "random", "grid")


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


def _condition_problems(data: dict) -> Iterator[Problem]:
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
    scheduler = _section(data, "scheduler", SchedulerSpec)
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


def _method_problems(data: dict) -> Iterator[Problem]:
    """cmaes samples numbers only; several objectives need a sampler that optimises them all."""
    search = _section(data, "search", SearchSpec)
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


def _initial_problems(data: dict) -> Iterator[Problem]:
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


def cross_check(data: Any, base_dir: Path) -> list[Problem]:
    """Every cross-field problem in the raw study mapping ``data``, as (path, message)."""
    if not isinstance(data, dict):
        return []
    problems: list[Problem] = []
    for check in (
        _search_problems, _heads_problems, _schedule_problems, _objective_problems,
        _condition_problems, _method_problems, _initial_problems,
    ):
        problems.extend(check(data))
    problems.extend(_task_problems(data, base_dir))
    return problems
