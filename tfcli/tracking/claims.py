"""A new study's parent run, created before Ray starts, and its claim on the study's name.

A local store serialises drivers with :func:`tfcli.tracking.locks.study_lock`. A server
store has no shared file system, so a new study *claims* its name instead: the driver
creates its parent run and then looks again; when two parent runs carry the name, the one
created first wins and the other driver deletes its own run and refuses.
"""

from __future__ import annotations

from tfcli.errors import StudyError
from tfcli.tracking.search import search_all, tag_field
from tfcli.tracking.store import Tracking, ensure_experiment
from tfcli.tracking.tags import (
    PHASE_STARTING,
    ROLE_STUDY,
    SPEC_ARTIFACT,
    TAG_OBJECTIVE_METRIC,
    TAG_NOTE,
    TAG_OBJECTIVE_MODE,
    TAG_PHASE,
    TAG_ROLE,
    TAG_SEARCH_SEED,
    TAG_STUDY_ID,
    TAG_STUDY_NAME,
    TAG_TASK,
)

def study_run_tags(spec, study_id: str) -> dict[str, str]:
    """What names a parent run as a study's. The resolved spec is the run's ``spec.json``
    artifact (older stores also carry it as a tag, which readers still take)."""
    tags = {
        TAG_STUDY_ID: study_id,
        TAG_STUDY_NAME: spec.name,
        TAG_ROLE: ROLE_STUDY,
        TAG_TASK: spec.task.type,
        TAG_OBJECTIVE_METRIC: spec.primary_objective.metric,
        TAG_OBJECTIVE_MODE: spec.primary_objective.mode,
    }
    if spec.search.seed is not None:
        tags[TAG_SEARCH_SEED] = str(spec.search.seed)
    return tags


def description_tags(spec) -> dict[str, str]:
    """The study's ``description:`` as its parent run's description (MLflow's note), set once
    when the run is created so that a later ``tfcli study note`` is not overwritten."""
    return {TAG_NOTE: spec.description} if spec.description else {}


def create_study_run(tracking: Tracking, spec, study_id: str, tags: dict[str, str]) -> str:
    """Create the parent run of a new study before Ray starts, and claim the study's name.

    The run carries the resolved spec (``spec.json``) from its first moment, so a
    driver that dies at any later point leaves a study that ``resume`` can find and explain.
    On a shared store, when another driver created a parent run for the same name first, this
    run is deleted again and StudyError says so.
    """
    client = tracking.client()
    experiment_id = ensure_experiment(tracking, spec.name, client)
    spec_json = spec.model_dump_json(indent=2)
    run_tags = {**study_run_tags(spec, study_id), TAG_PHASE: PHASE_STARTING, **description_tags(spec), **tags}
    run = client.create_run(experiment_id, tags=run_tags, run_name=spec.name)
    client.log_text(run.info.run_id, spec_json, SPEC_ARTIFACT)
    parents = search_all(client, [experiment_id], f"{tag_field(TAG_ROLE)} = '{ROLE_STUDY}'")
    first = min(parents, key=lambda r: (r.info.start_time, r.info.run_id), default=run)
    if first.info.run_id != run.info.run_id:
        client.delete_run(run.info.run_id)
        raise StudyError(
            f"study {spec.name!r} was started by another driver a moment ago in {tracking.uri}; "
            f"follow it with `tfcli study status {spec.name}`, or give this study a new `name:`"
        )
    return run.info.run_id
