"""Starting, resuming and extending a study: MLflow bookkeeping around :func:`run_study`.

MLflow is the system of record: a study is found by name in the store, its parent run holds
the resolved spec, its study id, the folder of its study file (relative data paths) and where
Ray keeps its experiments, so ``resume`` and ``extend`` need only the name.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from tfcli.errors import StudyError
from tfcli.spec.schema import StudySpec
from tfcli.study.storage import experiment_names, resolve_storage

TAG_RAY_STORAGE = "tfcli.ray_storage"
TAG_BASE_DIR = "tfcli.base_dir"
TAG_SOURCE_FILE = "tfcli.source_file"


@dataclass
class StoredStudy:
    """A study found in the tracking store."""

    spec: StudySpec
    study_id: str
    storage: str | None
    record: Any  # tfcli.records.StudyRecord


def _comparable(spec_json: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(spec_json, sort_keys=True))


def known_study_names(tracking) -> list[str]:
    from tfcli.tracking import list_studies

    return sorted(record.name for record in list_studies(tracking))


def _unknown(tracking, name: str) -> StudyError:
    names = known_study_names(tracking)
    known = ", ".join(names) if names else "none yet (tfcli study start FILE starts one)"
    return StudyError(f"no study named {name!r} in {tracking.uri}; known studies: {known}")


def load_stored_study(tracking, name: str) -> StoredStudy:
    from tfcli.tracking import study_record

    record = study_record(tracking, name)
    if record is None:
        raise _unknown(tracking, name)
    tags = _parent_tags(tracking, record.run_id)
    spec_json = record.spec_json or tags.get("tfcli.spec_json")
    if not spec_json:
        raise StudyError(f"study {name!r} has no stored study file in {tracking.uri}; start it again under a new name")
    spec = StudySpec.model_validate(json.loads(spec_json)).located(tags.get(TAG_BASE_DIR) or None, tags.get(TAG_SOURCE_FILE) or None)
    return StoredStudy(spec=spec, study_id=record.study_id, storage=tags.get(TAG_RAY_STORAGE) or None, record=record)


def _parent_tags(tracking, run_id: str) -> dict[str, str]:
    from tfcli.tracking import run_tags

    return run_tags(tracking, run_id)


def _callback(tracking, spec: StudySpec, study_id: str, storage: str, address: str | None):
    from tfcli.tracking import MlflowStudyCallback

    tags = {TAG_RAY_STORAGE: storage, TAG_BASE_DIR: spec.base_dir or "", TAG_SOURCE_FILE: spec.source_file or ""}
    return MlflowStudyCallback(
        tracking, spec, study_id, study_file=spec.source_file, ray_address=address or "local", tags=tags
    )


def ensure_new_study(spec: StudySpec, tracking) -> None:
    """Refuse a study name the store already holds, saying how to resume or rename."""
    from tfcli.tracking import study_record

    existing = study_record(tracking, spec.name)
    if existing is not None:
        same = existing.spec_json and _comparable(json.loads(existing.spec_json)) == _comparable(spec.model_dump(mode="json"))
        if same:
            raise StudyError(
                f"study {spec.name!r} already exists in {tracking.uri}; continue it with `tfcli study resume {spec.name}` "
                f"or add trials with `tfcli study extend {spec.name} --num-samples N`"
            )
        raise StudyError(
            f"study {spec.name!r} already exists in {tracking.uri} with a different study file; "
            f"resume it with `tfcli study resume {spec.name}`, or give this study a new `name:` in {spec.source_file or 'the study file'}"
        )


def start_study(
    spec: StudySpec,
    tracking,
    *,
    storage: str | None = None,
    address: str | None = None,
    num_samples: int | None = None,
    max_concurrent: int | None = None,
    progress=None,
):
    """Run a new study; refuse a name that the store already holds."""
    from tfcli.study.runner import run_study
    from tfcli.tracking import ensure_experiment
    from tfcli.train.trainable import train_trial

    ensure_new_study(spec, tracking)
    storage = resolve_storage(storage)
    ensure_experiment(tracking, spec.name)
    study_id = uuid.uuid4().hex[:16]
    return run_study(
        spec,
        train_trial,
        storage=storage,
        callbacks=[_callback(tracking, spec, study_id, storage, address)],
        address=address,
        num_samples=num_samples,
        max_concurrent=max_concurrent,
        study_id=study_id,
        progress=progress,
    )


def resume_study(name: str, tracking, *, address: str | None = None, storage: str | None = None, retry_failed: bool = False, progress=None):
    """Continue an interrupted study: finished trials are kept, unfinished ones resume."""
    from tfcli.study.runner import run_study
    from tfcli.train.trainable import train_trial

    stored = load_stored_study(tracking, name)
    storage = resolve_storage(storage or stored.storage)
    experiment = _latest_experiment(name, storage)
    return run_study(
        stored.spec,
        train_trial,
        storage=storage,
        callbacks=[_callback(tracking, stored.spec, stored.study_id, storage, address)],
        address=address,
        study_id=stored.study_id,
        resume=True,
        progress=progress,
        name=experiment,
        retry_failed=retry_failed,
    )


def _extensions(name: str, storage: str) -> list[str]:
    prefix = f"{name}-ext"
    found = [n for n in experiment_names(storage) if n.startswith(prefix) and n[len(prefix) :].isdigit()]
    return sorted(found, key=lambda n: int(n[len(name) + 4 :]))


def _latest_experiment(name: str, storage: str) -> str:
    extensions = _extensions(name, storage)
    return extensions[-1] if extensions else name


def warm_start(records, spec: StudySpec) -> tuple[list[dict], list[float]]:
    """The finished trials' searched values and objective values, for the searcher."""
    import math

    searched = set(spec.search.parameters)
    points, rewards = [], []
    for record in records:
        value = record.objective_value
        if record.status.value != "FINISHED" or value is None or not math.isfinite(value):
            continue
        config = {k: v for k, v in dict(record.config).items() if k in searched}
        if set(config) != searched:
            continue
        points.append(config)
        rewards.append(float(value))
    return points, rewards


def extend_study(
    name: str,
    tracking,
    *,
    num_samples: int,
    address: str | None = None,
    storage: str | None = None,
    max_concurrent: int | None = None,
    progress=None,
):
    """Run ``num_samples`` more trials under the same parent run, warm-starting the searcher.

    Ray Tune cannot add trials to a finished experiment, so each extension is a new Tune
    experiment ``NAME-extK`` whose searcher is given the earlier trials' configurations and
    results; the MLflow callback attaches to the same parent run by study id.
    """
    from tfcli.study.runner import run_study
    from tfcli.tracking import trial_records
    from tfcli.train.trainable import train_trial

    stored = load_stored_study(tracking, name)
    storage = resolve_storage(storage or stored.storage)
    records = trial_records(tracking, name, history=False)
    unfinished = [r for r in records if r.status.value in ("RUNNING", "KILLED")]
    if unfinished:
        raise StudyError(
            f"study {name!r} has {len(unfinished)} unfinished trial(s); finish them with `tfcli study resume {name}` before extending it"
        )
    points, rewards = warm_start(records, stored.spec)
    experiment = f"{name}-ext{len(_extensions(name, storage)) + 1}"
    outcome = run_study(
        stored.spec,
        train_trial,
        storage=storage,
        callbacks=[_callback(tracking, stored.spec, stored.study_id, storage, address)],
        address=address,
        num_samples=num_samples,
        max_concurrent=max_concurrent,
        study_id=stored.study_id,
        points_to_evaluate=points or None,
        evaluated_rewards=rewards or None,
        progress=progress,
        name=experiment,
    )
    return outcome, len(points)
