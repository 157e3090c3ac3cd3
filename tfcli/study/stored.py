"""A study as the tracking store holds it: its parent run, its stored study file, and where
Ray keeps its experiments (:func:`load_stored_study`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tfcli.errors import StudyError
from tfcli.spec.schema import StudySpec
from tfcli.tracking import list_studies, run_tags, study_record

TAG_RAY_STORAGE = "tfcli.ray_storage"
TAG_BASE_DIR = "tfcli.base_dir"
TAG_SOURCE_FILE = "tfcli.source_file"
TAG_PLANNED_TRIALS = "tfcli.planned_trials"  # trials of the start and every extension, in all


@dataclass
class StoredStudy:
    """A study found in the tracking store."""

    spec: StudySpec
    study_id: str
    storage: str | None
    record: Any  # tfcli.records.StudyRecord
    tags: dict[str, str]  # the parent run's


def known_study_names(tracking) -> list[str]:
    return sorted(record.name for record in list_studies(tracking))


def unknown_study(tracking, name: str) -> StudyError:
    names = known_study_names(tracking)
    known = ", ".join(names) if names else "none yet (tfcli study start FILE starts one)"
    return StudyError(f"no study named {name!r} in {tracking.uri}; known studies: {known}")


def load_stored_study(tracking, name: str) -> StoredStudy:
    record = study_record(tracking, name)
    if record is None:
        raise unknown_study(tracking, name)
    tags = run_tags(tracking, record.run_id)
    spec_json = record.spec_json or tags.get("tfcli.spec_json")
    if not spec_json:
        raise StudyError(f"study {name!r} has no stored study file in {tracking.uri}; start it again under a new name")
    spec = StudySpec.model_validate(json.loads(spec_json)).located(tags.get(TAG_BASE_DIR) or None, tags.get(TAG_SOURCE_FILE) or None)
    return StoredStudy(spec=spec, study_id=record.study_id, storage=tags.get(TAG_RAY_STORAGE) or None, record=record, tags=tags)
