"""A study's parent run as the study callback opens it: found again by the study's id (a
resumed or extended study), else created; with the spec and the study file as artifacts.

Also the data summary a study on data files logs there when it starts (:func:`log_data_summary`):
examples per split and the leakage counts as metrics (they come back with the study record,
so ``tfcli report`` reads them at no cost), and the shared pairs as a small JSON artifact."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Optional

import yaml

from tfcli.records import TrialState
from tfcli.tracking.claims import description_tags, study_run_tags
from tfcli.tracking.environment import environment_tags
from tfcli.tracking.search import quote_id, search_all, tag_field
from tfcli.tracking.tags import (
    MAX_METRICS_PER_BATCH,
    PHASE_RUNNING,
    ROLE_STUDY,
    SPEC_ARTIFACT,
    STUDY_FILE_ARTIFACT,
    TAG_HOST,
    TAG_PHASE,
    TAG_ROLE,
    TAG_STUDY_ID,
    TAG_STUDY_STOP_NOTE,
    TAG_STUDY_STOPPED,
)
from tfcli.tracking.writer import log_tags

if TYPE_CHECKING:  # pragma: no cover
    from mlflow import MlflowClient

    from tfcli.tracking.store import Tracking

    from tfcli.spec.schema import StudySpec


def attach_parent(
    client: "MlflowClient", experiment_id: str, spec: "StudySpec", study_id: str, tags: Mapping[str, str],
    study_file: Optional[str],
) -> str:
    """The id of the study's parent run, open (RUNNING) and tagged with ``tags`` besides the
    study's own, the host's and the environment's."""
    tags = {
        **study_run_tags(spec, study_id),
        TAG_HOST: socket.gethostname(),
        TAG_PHASE: PHASE_RUNNING,
        **environment_tags(),
        **tags,
    }
    spec_json = spec.model_dump_json(indent=2)
    existing = search_all(
        client,
        [experiment_id],
        f"{tag_field(TAG_STUDY_ID)} = {quote_id(study_id)} and {tag_field(TAG_ROLE)} = '{ROLE_STUDY}'",
        order_by=["attributes.start_time ASC"],
    )
    if existing:
        run_id = existing[0].info.run_id
        client.update_run(run_id, status=TrialState.RUNNING.mlflow.value)
        log_tags(client, run_id, tags)
        for key in STUDY_STOP_TAGS:  # an extension runs on: why an earlier run stopped no longer says how the study ended
            if key in existing[0].data.tags:
                client.delete_tag(run_id, key)
    else:
        run_id = client.create_run(experiment_id, tags={**tags, **description_tags(spec)}, run_name=spec.name).info.run_id
    client.log_text(run_id, spec_json, SPEC_ARTIFACT)
    study_text = None
    if study_file and Path(study_file).is_file():
        study_text = Path(study_file).read_text(encoding="utf-8")
    if study_text is None:
        study_text = yaml.safe_dump(json.loads(spec_json), sort_keys=False)
    client.log_text(run_id, study_text, STUDY_FILE_ARTIFACT)
    return run_id


#: The parent run's record of a study that its budget ended early (``budget.target``, ``budget.patience``).
STUDY_STOP_TAGS = (TAG_STUDY_STOPPED, TAG_STUDY_STOP_NOTE)


def study_stop_tags(reason: str, note: str) -> dict[str, str]:
    """The parent-run tags that say the study ended early: the reason word and the sentence."""
    return {TAG_STUDY_STOPPED: reason, TAG_STUDY_STOP_NOTE: note}


DATA_PROFILE_ARTIFACT = "data_profile.json"
_LEAK_PREFIX = "data/leakage/"


def data_metric_key(split: str, name: str) -> str:
    """``data/<split>/examples`` for a split's size; ``data/leakage/<split>/<kind>`` for a leak count."""
    return f"{_LEAK_PREFIX}{split}/{name}" if name != "examples" else f"data/{split}/examples"


def log_data_summary(tracking: "Tracking", run_id: str, summary: Mapping) -> None:
    """Log ``summary`` (``examples``: split -> count, ``leakage``: split -> kind -> count, and
    any detail) on the study's parent run: the counts as metrics, the whole as an artifact."""
    from mlflow.entities import Metric

    client = tracking.client()
    now = int(time.time() * 1000)
    values = {data_metric_key(split, "examples"): n for split, n in summary["examples"].items()}
    values.update({data_metric_key(split, kind): n for split, kinds in summary["leakage"].items() for kind, n in kinds.items()})
    metrics = [Metric(key, float(value), now, 0) for key, value in values.items()]
    for start in range(0, len(metrics), MAX_METRICS_PER_BATCH):
        client.log_batch(run_id, metrics=metrics[start : start + MAX_METRICS_PER_BATCH])
    client.log_text(run_id, json.dumps(summary, indent=1), DATA_PROFILE_ARTIFACT)


def data_leaks_from_metrics(metrics: Mapping[str, float]) -> dict[str, dict[str, int]]:
    """split -> kind -> how many of its examples train shares, from a parent run's metrics."""
    out: dict[str, dict[str, int]] = {}
    for key, value in metrics.items():
        if key.startswith(_LEAK_PREFIX):
            split, _, kind = key[len(_LEAK_PREFIX) :].partition("/")
            out.setdefault(split, {})[kind] = int(value)
    return out
