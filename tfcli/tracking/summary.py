"""The parent run's summary of a study: its trials counted by state, and its best trial."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Iterable

from tfcli.records import TrialState, TrialStatus
from tfcli.spec.objective import primary_objective
from tfcli.tracking.tags import MAX_TAG_VALUE, ROLE_TRIAL, TAG_BEST_RUN_ID, TAG_BEST_TRIAL, TAG_BEST_VALUE_PREFIX
from tfcli.tracking.values import metric_name, truncate
from tfcli.tracking.writer import Child

if TYPE_CHECKING:  # pragma: no cover
    from tfcli.spec.schema import StudySpec


def study_summary(children: Iterable[Child], spec: "StudySpec") -> tuple[dict[str, float], dict[str, str]]:
    """What the parent run shows of the whole study (earlier sessions' trials included):
    counts as metrics ``trials_<state>``, the best value as ``best_<objective>``, the best
    trial and its searched values as tags (params cannot change when a study is extended).
    Confirmation runs are not trials of the search and are left out."""
    trials = [c for c in children if c.role == ROLE_TRIAL]
    counts = {state: 0 for state in TrialState}
    for child in trials:
        counts[child.state or TrialState.RUNNING] += 1
    metrics: dict[str, float] = {f"trials_{state.value}": float(n) for state, n in counts.items()}
    tags: dict[str, str] = {}
    objective = spec.primary_objective
    finished = [c for c in trials if c.state is not None and c.state.mlflow is TrialStatus.FINISHED]
    best = primary_objective(spec).best(
        finished, key=lambda c: c.objective_key or (c.objective_value, None, None), infeasible=lambda c: c.infeasible
    )
    if best is not None:
        metrics[f"best_{metric_name(objective.metric)}"] = float(best.objective_value)
        tags[TAG_BEST_TRIAL] = best.trial_id
        tags[TAG_BEST_RUN_ID] = best.run_id or ""
        for key, value in sorted(best.config.items()):
            tags[TAG_BEST_VALUE_PREFIX + key] = truncate(json.dumps(value) if not isinstance(value, str) else value, MAX_TAG_VALUE)
    return metrics, tags
