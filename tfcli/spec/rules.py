"""Rules that relate several fields of a study file: :func:`cross_check` runs them all.

The rules of the search section are in :mod:`tfcli.spec.search_rules`; here are the model's
shape over the space, the task's metrics and data, the objectives and the scheduler. Each
section is validated on its own first (:func:`~tfcli.spec.problems.section`), so these checks
still run (and their problems are still reported) when some other section of the file is broken.
"""

from __future__ import annotations

import difflib
import itertools
from pathlib import Path
from typing import Any, Iterator

from pydantic import ValidationError

from tfcli.spec.architecture import attention_problem
from tfcli.spec.fields import field_kind, param_values, value_problem
from tfcli.spec.problems import Problem, section
from tfcli.spec.objective import Objective, metric_mode
from tfcli.spec.schema import BudgetSpec, DataFiles, ModelSpec, ObjectiveSpec, SchedulerSpec, SearchSpec, TaskSpec, TrainSpec
from tfcli.spec.search_rules import (
    condition_problems,
    constraint_problems,
    initial_problems,
    method_problems,
    search_problems,
    warm_start_problems,
)
from tfcli.spec.tasks import TASKS

def _possible(data: dict, model: ModelSpec | None, path: str) -> list[Any] | None:
    """The values the space can give the field at ``path``: searched, or the model default."""
    search = section(data, "search", SearchSpec)
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
    model = section(data, "model", ModelSpec)
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
    task = section(data, "task", TaskSpec)
    if task is None:
        return
    info = TASKS[task.type]
    scheduler = section(data, "scheduler", SchedulerSpec)
    named = [((*where, "metric"), objective.metric) for where, objective in _objectives(data)]
    if scheduler is not None and scheduler.metric is not None:
        named.append((("scheduler", "metric"), scheduler.metric))
    budget = section(data, "budget", BudgetSpec)
    if budget is not None and budget.target is not None:
        named.append((("budget", "target", "metric"), budget.target.metric))
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
    scheduler = section(data, "scheduler", SchedulerSpec)
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
    train = section(data, "train", TrainSpec)
    scheduler = section(data, "scheduler", SchedulerSpec)
    search = section(data, "search", SearchSpec)
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


def _target_problems(data: dict) -> Iterator[Problem]:
    """``budget.target``: a value its metric can reach, in the direction the study ranks it
    (an unknown metric is reported by :func:`_task_problems`)."""
    budget = section(data, "budget", BudgetSpec)
    task = section(data, "task", TaskSpec)
    if budget is None or budget.target is None or task is None:
        return
    metric = budget.target.metric
    if metric not in TASKS[task.type].objective_metrics:
        return
    modes = {objective.metric: objective.mode for _, objective in _objectives(data) if objective.mode}
    problem = Objective(metric, modes.get(metric) or metric_mode(metric)).target_problem(budget.target.value)
    if problem:
        yield ("budget", "target", "value"), problem


def cross_check(data: Any, base_dir: Path) -> list[Problem]:
    """Every cross-field problem in the raw study mapping ``data``, as (path, message)."""
    if not isinstance(data, dict):
        return []
    problems: list[Problem] = []
    for check in (
        search_problems, _heads_problems, _schedule_problems, _objective_problems,
        condition_problems, method_problems, initial_problems, warm_start_problems, _target_problems,
        constraint_problems,
    ):
        problems.extend(check(data))
    problems.extend(_task_problems(data, base_dir))
    return problems
