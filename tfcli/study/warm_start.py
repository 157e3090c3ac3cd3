"""``search.warm_start``: a new study's searcher told another study's finished trials.

What a searcher is told of earlier trials (:func:`searcher_points`) is also what ``extend``
and ``resume --rebuild`` tell it of the study's own. A warm start takes them from the study
``search.warm_start.study`` of the same store, which must have this study's task and
objectives (its values are then the same measure), keeps the trials whose values lie in this
study's space and says how many it took and skipped; the parent run records the source.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tfcli.errors import StudyError
from tfcli.records import TrialStatus
from tfcli.spec.conditions import active_parameters, is_conditional
from tfcli.spec.load import field_problem
from tfcli.spec.schema import StudySpec
from tfcli.study.stored import StoredStudy, load_stored_study
from tfcli.tracking import trial_records

TAG_WARM_START = "tfcli.warm_start"  # parent: the study the searcher was warm-started from
TAG_WARM_START_TRIALS = "tfcli.warm_start_trials"  # parent: how many of its trials it was told
_FIELD = ("search", "warm_start", "study")


def searcher_points(records, spec: StudySpec) -> tuple[list[dict], list]:
    """The finished trials' searched values and objective values, for the searcher.

    One objective: its best value. Several: a list per trial, in objective order, of each
    objective's last value, which is what the searcher was told when the trial completed.
    """
    searched = set(spec.search.parameters)
    metrics = [o.metric for o in spec.objectives]
    points, rewards = [], []
    for record in records:
        if record.status is not TrialStatus.FINISHED:
            continue
        values = [record.objective_value] if len(metrics) == 1 else [record.metrics.get(m) for m in metrics]
        if any(v is None or not math.isfinite(v) for v in values):
            continue
        config = {k: v for k, v in dict(record.config).items() if k in searched}
        if set(config) != set(active_parameters(spec, config, constants=True)):
            continue  # the study file's space changed since: the searcher cannot take this point
        points.append(config)
        rewards.append(float(values[0]) if len(metrics) == 1 else [float(v) for v in values])
    return points, rewards


@dataclass(frozen=True)
class WarmStart:
    """The earlier trials a new study's searcher is told, and where they came from."""

    source: str
    points: list[dict]
    rewards: list
    skipped: int

    def tags(self) -> dict[str, str]:
        return {TAG_WARM_START: self.source, TAG_WARM_START_TRIALS: str(len(self.points))}

    def line(self) -> str:
        return (
            f"warm start: the searcher was told {len(self.points)} finished trial(s) of study {self.source!r}; "
            f"skipped {self.skipped} outside this study's space"
        )


def _source_problem(spec: StudySpec, source: StoredStudy) -> str | None:
    theirs = source.spec
    if theirs.task.type != spec.task.type:
        return f"study {theirs.name!r} is a {theirs.task.type} study and this one is {spec.task.type}; warm-start from a study of the same task"
    if _ranking(theirs) != _ranking(spec):
        return f"study {theirs.name!r} ranks trials by {_ranking(theirs)} and this one by {_ranking(spec)}; its values would mislead the searcher"
    return None


def _ranking(spec: StudySpec) -> str:
    return ", ".join(f"{o.metric} ({o.mode})" for o in spec.objectives)


def check_warm_start(spec: StudySpec, tracking) -> StoredStudy | None:
    """The study ``search.warm_start`` names, checked: one line with FILE:LINE (exit 2) when
    the store does not hold it or it has another task or objectives. None without a warm start."""
    if spec.search.warm_start is None:
        return None
    try:
        source = load_stored_study(tracking, spec.search.warm_start.study)
    except StudyError as err:
        raise field_problem(spec, _FIELD, str(err)) from None
    problem = _source_problem(spec, source)
    if problem:
        raise field_problem(spec, _FIELD, problem)
    return source


def warm_start_from(spec: StudySpec, tracking) -> WarmStart | None:
    """What the searcher of the new study ``spec`` is told of its warm-start study, or None."""
    source = check_warm_start(spec, tracking)
    if source is None:
        return None
    records = trial_records(tracking, source.spec.name, history=False)
    finished = [r for r in records if r.status is TrialStatus.FINISHED]
    points, rewards = _inside_space(spec, *searcher_points(finished, spec))
    return WarmStart(source=source.spec.name, points=points, rewards=rewards, skipped=len(finished) - len(points))


def _inside_space(spec: StudySpec, points: list[dict], rewards: list) -> tuple[list[dict], list]:
    """The points whose every value lies inside this study's distributions, as Optuna checks."""
    from tfcli.study.space_optuna import optuna_space, warm_start  # defers Optuna

    expected = (lambda point: active_parameters(spec, point)) if is_conditional(spec) else None
    kept, kept_rewards = warm_start(optuna_space(spec), points, rewards, expected)
    return kept or [], kept_rewards or []
