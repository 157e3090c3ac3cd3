"""The trial runs a study already has in the store, as the study callback's :class:`Child` map.

What a restored or extended study re-attaches to: each run's number, state, last step,
searched values and their history, so that numbers never repeat and finished runs stay closed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping

from tfcli.records import TrialState, TrialStatus, recorded_state
from tfcli.spec.results import reached_end
from tfcli.tracking.artifacts import read_text_artifact
from tfcli.tracking.search import quote_id, search_all, tag_field
from tfcli.tracking.tags import (
    CONFIG_HISTORY_ARTIFACT,
    ROLE_TRIAL,
    TAG_CONFIG,
    TAG_CONFIG_CHANGES,
    TAG_CONFIG_FINAL,
    TAG_INFEASIBLE,
    TAG_LAST_STEP,
    TAG_NUM_FAILURES,
    TAG_OBJECTIVE_VALUE,
    TAG_ROLE,
    TAG_STOPPED_EARLY,
    TAG_STUDY_ID,
    TAG_TRIAL_ID,
    TAG_TRIAL_NUMBER,
    TRIAL_ROLES,
)
from tfcli.tracking.values import int_or_none, json_tag, number
from tfcli.tracking.writer import Child

if TYPE_CHECKING:  # pragma: no cover
    from mlflow import MlflowClient

    from tfcli.spec.schema import StudySpec


def load_children(
    client: "MlflowClient", experiment_id: str, study_id: str, trial_spec: Callable[[Mapping[str, Any]], "StudySpec"]
) -> dict[str, Child]:
    """The study's trial and confirmation runs by Ray trial id, oldest first; ``trial_spec``
    gives a configuration's spec (for its ``max_steps``)."""
    children: dict[str, Child] = {}
    runs = [
        run
        for role in TRIAL_ROLES
        for run in search_all(
            client,
            [experiment_id],
            f"{tag_field(TAG_STUDY_ID)} = {quote_id(study_id)} and {tag_field(TAG_ROLE)} = '{role}'",
            order_by=["attributes.start_time ASC"],
        )
    ]
    for run in runs:
        trial_id = run.data.tags.get(TAG_TRIAL_ID)
        if trial_id and trial_id not in children:
            children[trial_id] = _child(client, run, trial_id, trial_spec)
    return children


def _child(client: "MlflowClient", run: Any, trial_id: str, trial_spec: Callable[[Mapping[str, Any]], "StudySpec"]) -> Child:
    tags = run.data.tags
    config = json_tag(tags.get(TAG_CONFIG_FINAL)) or json_tag(tags.get(TAG_CONFIG)) or {}
    history = []
    if (int_or_none(tags.get(TAG_CONFIG_CHANGES)) or 0) > 0:
        history = json_tag(read_text_artifact(client, run.info.run_id, CONFIG_HISTORY_ARTIFACT)) or []
    last_step = int_or_none(tags.get(TAG_LAST_STEP))
    if last_step is None and run.data.metrics:
        steps = [m.step for key in run.data.metrics for m in client.get_metric_history(run.info.run_id, key)]
        last_step = max(steps) if steps else None
    state: TrialState = recorded_state(run.info.status, tags.get(TAG_STOPPED_EARLY) == "true")
    max_steps = trial_spec(config).train.max_steps
    return Child(
        trial_id=trial_id,
        run_id=run.info.run_id,
        role=tags.get(TAG_ROLE, ROLE_TRIAL),
        number=int_or_none(tags.get(TAG_TRIAL_NUMBER)),
        state=state,
        objective_value=number(tags.get(TAG_OBJECTIVE_VALUE)),
        last_step=last_step,
        config=config,
        history=history or [{"step": 0, "config": config}],
        max_steps=max_steps,
        ended=True,
        failures=int_or_none(tags.get(TAG_NUM_FAILURES)) or 0,
        infeasible=tags.get(TAG_INFEASIBLE),
        settled=TrialStatus.from_mlflow(run.info.status) is TrialStatus.FINISHED and reached_end(last_step, max_steps, run.data.metrics),
    )
