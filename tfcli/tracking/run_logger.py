"""Single runs outside Ray: :class:`RunLogger`, what ``tfcli train`` logs through."""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any, Mapping, Optional

from tfcli.records import Evidence, decide_state
from tfcli.tracking.environment import environment_tags
from tfcli.tracking.store import Tracking, ensure_experiment
from tfcli.tracking.tags import (
    ERROR_ARTIFACT,
    MAX_METRICS_PER_BATCH,
    MAX_TAG_VALUE,
    MAX_TAGS_PER_BATCH,
    ROLE_TRAIN,
    TAG_ERROR,
    TAG_ROLE,
)
from tfcli.tracking.values import chunks, error_summary, metric_name, now_ms, numeric_items, truncate
from tfcli.tracking.writer import log_params


class RunLogger:
    """One MLflow run outside Ray, for ``tfcli train``; writes synchronously.

    ``with RunLogger(tracking, experiment="x", params={"train.lr": 1e-3}) as run:``
    ``run.log_metrics({"loss": 1.2}, step=100)``. On exit the run is FINISHED, or FAILED with
    the error (tag ``tfcli.error`` and ``error.txt``), or KILLED on Ctrl+C; the exception,
    if any, propagates.
    """

    def __init__(
        self,
        tracking: Tracking,
        *,
        experiment: str,
        run_name: Optional[str] = None,
        tags: Optional[Mapping[str, Any]] = None,
        params: Optional[Mapping[str, Any]] = None,
    ):
        self.tracking = tracking
        self.experiment = experiment
        self.run_name = run_name
        self._tags = {TAG_ROLE: ROLE_TRAIN, **{k: str(v) for k, v in (tags or {}).items()}}
        self._params = dict(params or {})
        self._client = None
        self._run = None

    @property
    def run_id(self) -> str:
        return self._active().info.run_id

    @property
    def artifact_uri(self) -> str:
        return self._active().info.artifact_uri

    @property
    def experiment_id(self) -> str:
        return self._active().info.experiment_id

    def __enter__(self) -> "RunLogger":
        client = self.tracking.client()
        experiment_id = ensure_experiment(self.tracking, self.experiment, client)
        tags = {**environment_tags(), **self._tags}
        self._run = client.create_run(experiment_id, tags=tags, run_name=self.run_name)
        self._client = client
        log_params(client, self._run.info.run_id, self._params)
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if self._run is None:
            return False
        run_id, client = self._run.info.run_id, self._client
        interrupted = exc_type is not None and issubclass(exc_type, KeyboardInterrupt)
        text = "".join(traceback.format_exception(exc_type, exc, tb)) if exc_type is not None else None
        state = decide_state(Evidence(reached_end=True, interrupted=interrupted, failure=None if interrupted else text))
        try:
            if text is not None:
                client.set_tag(run_id, TAG_ERROR, truncate(error_summary(text), 1000))
                client.log_text(run_id, text, ERROR_ARTIFACT)
        finally:
            client.set_terminated(run_id, state.mlflow.value)
        return False

    def log_params(self, params: Mapping[str, Any]) -> None:
        """More params, known only once training starts (the resolved device and precision)."""
        log_params(self._client, self.run_id, params)

    def log_metrics(self, metrics: Mapping[str, Any], step: int) -> None:
        from mlflow.entities import Metric

        now = now_ms()
        batch = [Metric(metric_name(k), float(v), now, int(step)) for k, v in numeric_items(metrics)]
        for chunk in chunks(batch, MAX_METRICS_PER_BATCH):
            self._client.log_batch(self.run_id, metrics=chunk)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        from mlflow.entities import RunTag

        batch = [RunTag(k, truncate(str(v), MAX_TAG_VALUE)) for k, v in tags.items()]
        for chunk in chunks(batch, MAX_TAGS_PER_BATCH):
            self._client.log_batch(self.run_id, tags=chunk)

    def log_artifacts(self, local_dir: str | Path, artifact_path: Optional[str] = None) -> None:
        self._client.log_artifacts(self.run_id, str(local_dir), artifact_path)

    def log_artifact(self, local_path: str | Path, artifact_path: Optional[str] = None) -> None:
        self._client.log_artifact(self.run_id, str(local_path), artifact_path)

    def log_text(self, text: str, artifact_file: str) -> None:
        self._client.log_text(self.run_id, text, artifact_file)

    def log_dict(self, data: Mapping[str, Any], artifact_file: str) -> None:
        self._client.log_dict(self.run_id, dict(data), artifact_file)

    def _active(self):
        if self._run is None:
            raise RuntimeError("RunLogger is used outside its `with` block")
        return self._run
