"""MLflow, the system of record: the store, the study callback, single runs, and records.

The only module of tfcli that imports MLflow, and it does so inside functions, so that
``import tfcli.tracking`` stays cheap for the CLI. Ray is imported lazily as well: the Tune
callback class :class:`MlflowStudyCallback` is built on first access.

Layout in the store (see also the tag constants below):

* experiment = the study's name; one **parent run** per study (``tfcli.role=study``) tagged
  with the study id, carrying ``study.yaml`` and ``spec.json``;
* one **child run** per Ray trial (``tfcli.role=trial``, ``mlflow.parentRunId``), found again
  by ``tfcli.study_id`` + ``tfcli.trial_id`` when a study is resumed or extended. Its params
  are the trial's full configuration in dotted names, its metrics the reported results at
  step = training step, and at its end its best checkpoint (by the objective) is logged under
  ``checkpoint/`` (with ``valid_outputs.jsonl`` inside), a failure's text as ``error.txt``.

PBT: MLflow params cannot change once logged, so a child's params keep the values the trial
started with. Each change of the searched values is recorded in ``config_history.json``
(``[{"step": 0, "config": {...}}, {"step": 1200, "config": {...}, "changes": {...}}]``) with
the tags ``tfcli.config_changes`` (count) and ``tfcli.config_final`` (JSON of the current
values); under a PBT scheduler every numeric searched value is also logged at each step as
the metric ``hp/<dotted name>``, so the schedule shows up as a curve in the MLflow UI.
"""

from __future__ import annotations

import json
import logging
import math
import numbers
import os
import queue
import re
import socket
import subprocess
import threading
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Optional

from tfcli.errors import ClusterError, StudyError
from tfcli.records import MetricBest, StudyRecord, TrialRecord, TrialStatus, better

if TYPE_CHECKING:  # pragma: no cover
    from mlflow import MlflowClient
    from mlflow.entities import Run

    from tfcli.study.spec import StudySpec

log = logging.getLogger(__name__)

# --- tag names ----------------------------------------------------------------------------

TAG_STUDY_ID = "tfcli.study_id"
TAG_STUDY_NAME = "tfcli.study_name"
TAG_ROLE = "tfcli.role"  # study | trial | train
TAG_TRIAL_ID = "tfcli.trial_id"
TAG_TRIAL_NAME = "tfcli.trial_name"  # Ray's trial name, e.g. train_fn_3c2a1_00002
TAG_EXPERIMENT_TAG = "tfcli.experiment_tag"  # Ray's tag, e.g. 2_train.lr=0.0003
TAG_TASK = "tfcli.task"
TAG_OBJECTIVE_METRIC = "tfcli.objective_metric"
TAG_OBJECTIVE_MODE = "tfcli.objective_mode"
TAG_OBJECTIVE_VALUE = "tfcli.objective_value"  # child: objective at the logged checkpoint
TAG_OBJECTIVE_STEP = "tfcli.objective_step"
TAG_CHECKPOINT = "tfcli.checkpoint"  # child: artifact path of the logged checkpoint
TAG_CHECKPOINT_STEP = "tfcli.checkpoint_step"
TAG_LAST_STEP = "tfcli.last_step"  # child: the last step whose metrics were logged
TAG_STOPPED_EARLY = "tfcli.stopped_early"
TAG_STOP_REASON = "tfcli.stop_reason"  # scheduler | time_budget
TAG_ERROR = "tfcli.error"  # child: the failure's last line; full text in error.txt
TAG_NUM_FAILURES = "tfcli.num_failures"
TAG_CONFIG = "tfcli.config"  # child: JSON of the searched values the trial started with
TAG_CONFIG_FINAL = "tfcli.config_final"
TAG_CONFIG_CHANGES = "tfcli.config_changes"
TAG_SPEC = "tfcli.spec_json"  # parent: the resolved spec, when it fits in a tag
TAG_GIT_COMMIT = "tfcli.git_commit"
TAG_GIT_DIRTY = "tfcli.git_dirty"
TAG_HOST = "tfcli.host"
TAG_RAY_ADDRESS = "tfcli.ray_address"
TAG_VERSION_PREFIX = "tfcli.version."  # tfcli.version.torch, ...
TAG_PARENT_RUN = "mlflow.parentRunId"
TAG_RUN_NAME = "mlflow.runName"
TAG_MLFLOW_GIT_COMMIT = "mlflow.source.git.commit"
TAG_MLFLOW_USER = "mlflow.user"

#: Result keys of a trial's last report when it failed in a way no retry can fix
#: (divergence, out of memory); see :mod:`tfcli.study.runner`.
FAILURE_RESULT_KEY = "tfcli_failure"
FAILURE_MESSAGE_RESULT_KEY = "tfcli_failure_message"

ROLE_STUDY = "study"
ROLE_TRIAL = "trial"
ROLE_TRAIN = "train"

CHECKPOINT_ARTIFACT_PATH = "checkpoint"
VALID_OUTPUTS_FILE = "valid_outputs.jsonl"
STUDY_FILE_ARTIFACT = "study.yaml"
SPEC_ARTIFACT = "spec.json"
ERROR_ARTIFACT = "error.txt"
CONFIG_HISTORY_ARTIFACT = "config_history.json"
HPARAM_METRIC_PREFIX = "hp/"

#: Keys Ray Tune adds to every result; they are bookkeeping, not metrics.
RAY_RESULT_KEYS = frozenset(
    {
        "done", "should_checkpoint", "checkpoint_dir_name", "trial_id", "experiment_id",
        "experiment_tag", "training_iteration", "time_total_s", "time_this_iter_s",
        "time_since_restore", "timesteps_total", "timesteps_this_iter", "timesteps_since_restore",
        "episodes_total", "episodes_this_iter", "iterations_since_restore", "timestamp", "date",
        "pid", "hostname", "node_ip", "config", "__duplicate__", "__trial_info__",
        "__stdout_file__", "__stderr_file__",
    }
)
#: The result key that carries the training step (the x axis of every metric).
STEP_KEY = "step"

_HTTP_TIMEOUT_S = 3.0
_MAX_TAG_VALUE = 8000
_MAX_PARAM_VALUE = 6000
_MAX_METRICS_PER_BATCH = 1000
_MAX_TAGS_PER_BATCH = 100


# --- the store ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Tracking:
    """Where runs go: the tracking URI and, for a local store, the artifact root (a path)."""

    uri: str
    artifact_root: Optional[str] = None

    @property
    def is_remote(self) -> bool:
        return self.uri.startswith(("http://", "https://"))

    @property
    def sqlite_path(self) -> Optional[Path]:
        return _sqlite_path(self.uri)

    def experiment_artifact_location(self, name: str) -> Optional[str]:
        """``<artifact_root>/<name>`` for a local store; None leaves it to the server."""
        if self.artifact_root is None:
            return None
        return str(Path(self.artifact_root) / _safe_name(name))

    def ensure_dirs(self) -> None:
        """Create the folders of a local store (the database's folder and the artifact root)."""
        db = self.sqlite_path
        if db is not None:
            db.parent.mkdir(parents=True, exist_ok=True)
        if self.artifact_root is not None:
            Path(self.artifact_root).mkdir(parents=True, exist_ok=True)

    def client(self) -> "MlflowClient":
        _quiet_mlflow_logs()
        self.ensure_dirs()
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.uri)


def default_tracking_uri() -> str:
    """``$MLFLOW_TRACKING_URI`` if set, else the local store ``sqlite:///<cwd>/mlruns/mlflow.db``."""
    return resolve_tracking(None).uri


def resolve_tracking(uri: Optional[str] = None, *, cwd: Optional[str | Path] = None) -> Tracking:
    """The store for ``--tracking-uri`` (None: ``$MLFLOW_TRACKING_URI``, else ``./mlruns``).

    A SQLite store gets an absolute database path and keeps its artifacts beside it in
    ``artifacts/`` (``./mlruns/mlflow.db`` + ``./mlruns/artifacts``), so that the same store is
    found from any folder; a server (http/https) keeps artifacts where it is configured to.
    Nothing is created here: :func:`check_tracking` and :meth:`Tracking.client` do that.
    """
    base = Path(cwd) if cwd is not None else Path.cwd()
    if uri is None or not str(uri).strip():
        uri = os.environ.get("MLFLOW_TRACKING_URI", "").strip() or None
    if uri is None:
        root = (base / "mlruns").absolute()
        return Tracking(uri=f"sqlite:///{root / 'mlflow.db'}", artifact_root=str(root / "artifacts"))
    uri = str(uri).strip()
    db = _sqlite_path(uri, base=base)
    if db is not None:
        query = uri.partition("?")[2]
        absolute = f"sqlite:///{db}" + (f"?{query}" if query else "")
        return Tracking(uri=absolute, artifact_root=str(db.parent / "artifacts"))
    return Tracking(uri=uri.rstrip("/") if uri.startswith(("http://", "https://")) else uri)


def check_tracking(tracking: Tracking | str | None = None, *, timeout_s: float = _HTTP_TIMEOUT_S) -> Tracking:
    """Check up front that the store can be written (local) or reached (server); return it.

    Raises :class:`StudyError` for a local store that cannot be created or opened and
    :class:`ClusterError` for a server that does not answer within ``timeout_s``; each with
    one line that says what was expected and what was found.
    """
    if not isinstance(tracking, Tracking):
        tracking = resolve_tracking(tracking)
    uri = tracking.uri
    if tracking.is_remote:
        _probe_server(uri, timeout_s)
        return tracking
    scheme = uri.split(":", 1)[0].lower() if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", uri) else ""
    if scheme in ("", "file") and os.environ.get("MLFLOW_ALLOW_FILE_STORE", "").lower() not in ("1", "true"):
        raise StudyError(
            "the tracking URI must be a database such as sqlite:///mlruns/mlflow.db or an "
            f"http(s) server (MLflow 3 refuses a plain folder store), but got {uri!r}"
        )
    db = tracking.sqlite_path
    if db is not None:
        for folder in (db.parent, Path(tracking.artifact_root) if tracking.artifact_root else None):
            if folder is None:
                continue
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise StudyError(
                    f"the tracking store's folder must be writable, but {folder} cannot be created "
                    f"({err.strerror or err})"
                ) from None
            if not os.access(folder, os.W_OK | os.X_OK):
                raise StudyError(f"the tracking store's folder must be writable, but {folder} is not")
        if db.exists() and not os.access(db, os.R_OK | os.W_OK):
            raise StudyError(f"the tracking database must be writable, but {db} is not")
    try:
        tracking.client().search_experiments(max_results=1)
    except Exception as err:  # noqa: BLE001 - any failure to open the store is the user's to fix
        raise StudyError(f"the tracking store must open, but {uri} failed: {_one_line(err)}") from None
    return tracking


def _probe_server(uri: str, timeout_s: float) -> None:
    import urllib.error
    import urllib.request

    url = f"{uri.rstrip('/')}/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - user's server
            response.read(64)
    except urllib.error.HTTPError as err:
        if err.code in (401, 403):
            raise ClusterError(
                f"the MLflow tracking server must accept this client, but {uri} answered HTTP {err.code} "
                "(set MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD or MLFLOW_TRACKING_TOKEN)"
            ) from None
        if err.code >= 500:
            raise ClusterError(
                f"the MLflow tracking server must be healthy, but {uri} answered HTTP {err.code}"
            ) from None
        # 404 and friends: something answers (a proxy without /health); let MLflow try.
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise ClusterError(
            f"the MLflow tracking server must be reachable, but {uri} did not answer within "
            f"{timeout_s:g}s ({_one_line(reason)})"
        ) from None


def ensure_experiment(tracking: Tracking, name: str, client: Optional["MlflowClient"] = None) -> str:
    """The id of the experiment ``name``, created (with a local artifact location) if needed."""
    from mlflow.exceptions import MlflowException

    client = client or tracking.client()
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        try:
            return client.create_experiment(name, artifact_location=tracking.experiment_artifact_location(name))
        except MlflowException:
            experiment = client.get_experiment_by_name(name)  # created meanwhile by another process
            if experiment is None:
                raise
    if experiment.lifecycle_stage != "active":
        raise StudyError(
            f"the MLflow experiment must be active, but {name!r} is deleted in {tracking.uri} "
            f"(restore it with `mlflow experiments restore --experiment-id {experiment.experiment_id}`, "
            "or choose another study name)"
        )
    return experiment.experiment_id


# --- finding studies and trials -------------------------------------------------------------


def find_study(tracking: Tracking, name: str) -> Optional["Run"]:
    """The parent run of the study ``name`` (the latest, if the name was used twice), or None."""
    client = tracking.client()
    experiment = client.get_experiment_by_name(name)
    if experiment is None or experiment.lifecycle_stage != "active":
        return None
    runs = _search(
        client,
        [experiment.experiment_id],
        f"{_tag(TAG_ROLE)} = '{ROLE_STUDY}'",
        order_by=["attributes.start_time DESC"],
    )
    return runs[0] if runs else None


def parent_run_id(tracking: Tracking, study_id: str, *, experiment_id: Optional[str] = None) -> Optional[str]:
    """The id of the parent run tagged with ``study_id``, or None."""
    client = tracking.client()
    runs = _search(
        client,
        _experiment_ids(client, experiment_id),
        f"{_tag(TAG_STUDY_ID)} = {_quote(study_id)} and {_tag(TAG_ROLE)} = '{ROLE_STUDY}'",
        order_by=["attributes.start_time ASC"],
    )
    return runs[0].info.run_id if runs else None


def study_runs(tracking: Tracking, study_id: str, *, experiment_id: Optional[str] = None) -> list["Run"]:
    """The child (trial) runs of the study ``study_id``, oldest first."""
    client = tracking.client()
    return _search(
        client,
        _experiment_ids(client, experiment_id),
        f"{_tag(TAG_STUDY_ID)} = {_quote(study_id)} and {_tag(TAG_ROLE)} = '{ROLE_TRIAL}'",
        order_by=["attributes.start_time ASC"],
    )


def study_record(tracking: Tracking, name: str) -> Optional[StudyRecord]:
    """The :class:`StudyRecord` of the study ``name``, or None."""
    parent = find_study(tracking, name)
    if parent is None:
        return None
    client = tracking.client()
    study_id = parent.data.tags.get(TAG_STUDY_ID, "")
    children = study_runs(tracking, study_id, experiment_id=parent.info.experiment_id)
    return _study_record(parent, children, client)


def run_tags(tracking: Tracking, run_id: str) -> dict[str, str]:
    """The tags of one run."""
    return dict(tracking.client().get_run(run_id).data.tags)


def list_studies(tracking: Tracking) -> list[StudyRecord]:
    """Every study in the store (for ``tfcli study list``), newest first."""
    client = tracking.client()
    experiment_ids = [e.experiment_id for e in _all_experiments(client)]
    if not experiment_ids:
        return []
    parents = _search(client, experiment_ids, f"{_tag(TAG_ROLE)} = '{ROLE_STUDY}'",
                      order_by=["attributes.start_time DESC"])
    if not parents:
        return []
    parent_experiments = sorted({p.info.experiment_id for p in parents})
    children = _search(client, parent_experiments, f"{_tag(TAG_ROLE)} = '{ROLE_TRIAL}'")
    by_study: dict[str, list] = {}
    for child in children:
        by_study.setdefault(child.data.tags.get(TAG_STUDY_ID, ""), []).append(child)
    return [_study_record(p, by_study.get(p.data.tags.get(TAG_STUDY_ID, ""), []), client) for p in parents]


def trial_records(tracking: Tracking, study_name: str, *, history: bool = True) -> list[TrialRecord]:
    """The trials of the study ``study_name`` as :class:`TrialRecord`, oldest first.

    ``history=True`` reads each metric's history to fill ``best`` (one query per metric and
    run); without it ``best`` is empty and the objective comes from tags and final values.
    Raises :class:`StudyError` when the store has no such study.
    """
    parent = find_study(tracking, study_name)
    if parent is None:
        raise StudyError(
            f"the study must exist in the tracking store, but there is no study named {study_name!r} "
            f"in {tracking.uri} (`tfcli study list` shows the studies there)"
        )
    client = tracking.client()
    tags = parent.data.tags
    runs = study_runs(tracking, tags.get(TAG_STUDY_ID, ""), experiment_id=parent.info.experiment_id)
    return [
        _trial_record(
            run,
            client=client,
            study=study_name,
            objective_metric=tags.get(TAG_OBJECTIVE_METRIC),
            objective_mode=tags.get(TAG_OBJECTIVE_MODE),
            history=history,
        )
        for run in runs
    ]


def _study_record(parent: "Run", children: list, client: "MlflowClient") -> StudyRecord:
    tags = parent.data.tags
    metric, mode = tags.get(TAG_OBJECTIVE_METRIC), tags.get(TAG_OBJECTIVE_MODE) or "max"
    counts = {status.value: 0 for status in TrialStatus}
    best_id, best_value = None, None
    for child in children:
        counts[TrialStatus.from_mlflow(child.info.status).value] += 1
        value = _float(child.data.tags.get(TAG_OBJECTIVE_VALUE))
        if value is None and metric:
            value = child.data.metrics.get(metric)
        if value is not None and (best_value is None or better(value, best_value, mode)):
            best_id, best_value = child.data.tags.get(TAG_TRIAL_ID), value
    spec_json = tags.get(TAG_SPEC)
    if spec_json is None:
        spec_json = _read_text_artifact(client, parent.info.run_id, SPEC_ARTIFACT)
    return StudyRecord(
        name=tags.get(TAG_STUDY_NAME, parent.info.run_name or ""),
        study_id=tags.get(TAG_STUDY_ID, ""),
        run_id=parent.info.run_id,
        experiment_id=parent.info.experiment_id,
        status=parent.info.status,
        spec_json=spec_json,
        objective_metric=metric,
        objective_mode=tags.get(TAG_OBJECTIVE_MODE),
        task=tags.get(TAG_TASK),
        start_time=_datetime(parent.info.start_time),
        end_time=_datetime(parent.info.end_time) if parent.info.status != "RUNNING" else None,
        counts=counts,
        best_trial_id=best_id,
        best_value=best_value,
        artifact_uri=parent.info.artifact_uri,
    )


def _trial_record(
    run: "Run",
    *,
    client: "MlflowClient",
    study: str,
    objective_metric: Optional[str],
    objective_mode: Optional[str],
    history: bool,
) -> TrialRecord:
    from tfcli.data.tasks import metric_mode

    tags, metrics = run.data.tags, dict(run.data.metrics)
    status = TrialStatus.from_mlflow(run.info.status)
    best: dict[str, MetricBest] = {}
    if history:
        for key in sorted(metrics):
            if key.startswith(HPARAM_METRIC_PREFIX):
                continue
            mode = objective_mode if key == objective_metric and objective_mode else metric_mode(key)
            top: Optional[MetricBest] = None
            for point in sorted(client.get_metric_history(run.info.run_id, key), key=lambda m: m.step):
                if top is None or better(point.value, top.value, mode):
                    top = MetricBest(value=point.value, step=point.step)
            if top is not None:
                best[key] = top
    objective_value = _float(tags.get(TAG_OBJECTIVE_VALUE))
    objective_step = _int(tags.get(TAG_OBJECTIVE_STEP))
    if objective_value is None and objective_metric:
        if objective_metric in best:
            objective_value, objective_step = best[objective_metric].value, best[objective_metric].step
        elif objective_metric in metrics:
            objective_value, objective_step = metrics[objective_metric], _int(tags.get(TAG_LAST_STEP))
    start, end = _datetime(run.info.start_time), _datetime(run.info.end_time)
    if not status.is_done:
        end = None
    config = _json_tag(tags.get(TAG_CONFIG)) or {}
    checkpoint = tags.get(TAG_CHECKPOINT)
    return TrialRecord(
        study=study,
        study_id=tags.get(TAG_STUDY_ID, ""),
        trial_id=tags.get(TAG_TRIAL_ID, ""),
        run_id=run.info.run_id,
        status=status,
        params={k: _parse_param(v) for k, v in sorted(run.data.params.items())},
        config=config,
        final_config=_json_tag(tags.get(TAG_CONFIG_FINAL)) or config,
        metrics=metrics,
        best=best,
        objective_metric=objective_metric,
        objective_mode=objective_mode,
        objective_value=objective_value,
        objective_step=objective_step,
        last_step=_int(tags.get(TAG_LAST_STEP)),
        checkpoint_uri=f"{run.info.artifact_uri.rstrip('/')}/{checkpoint}" if checkpoint else None,
        checkpoint_step=_int(tags.get(TAG_CHECKPOINT_STEP)),
        start_time=start,
        end_time=end,
        duration_s=(end - start).total_seconds() if start and end else None,
        error=tags.get(TAG_ERROR),
        stopped_early=tags.get(TAG_STOPPED_EARLY) == "true",
        config_changes=_int(tags.get(TAG_CONFIG_CHANGES)) or 0,
        artifact_uri=run.info.artifact_uri,
    )


# --- single runs (tfcli train) --------------------------------------------------------------


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
        tags = {**_environment_tags(), **self._tags}
        self._run = client.create_run(experiment_id, tags=tags, run_name=self.run_name)
        self._client = client
        _log_params(client, self._run.info.run_id, self._params)
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if self._run is None:
            return False
        run_id, client = self._run.info.run_id, self._client
        status = "FINISHED"
        try:
            if exc_type is not None:
                status = "KILLED" if issubclass(exc_type, KeyboardInterrupt) else "FAILED"
                text = "".join(traceback.format_exception(exc_type, exc, tb))
                client.set_tag(run_id, TAG_ERROR, _truncate(_error_summary(text), 1000))
                client.log_text(run_id, text, ERROR_ARTIFACT)
        finally:
            client.set_terminated(run_id, status)
        return False

    def log_metrics(self, metrics: Mapping[str, Any], step: int) -> None:
        from mlflow.entities import Metric

        now = _now_ms()
        batch = [Metric(_metric_name(k), float(v), now, int(step)) for k, v in _numeric_items(metrics)]
        for chunk in _chunks(batch, _MAX_METRICS_PER_BATCH):
            self._client.log_batch(self.run_id, metrics=chunk)

    def log_params(self, params: Mapping[str, Any]) -> None:
        _log_params(self._client, self.run_id, params)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        from mlflow.entities import RunTag

        batch = [RunTag(k, _truncate(str(v), _MAX_TAG_VALUE)) for k, v in tags.items()]
        for chunk in _chunks(batch, _MAX_TAGS_PER_BATCH):
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


# --- the study callback ---------------------------------------------------------------------


@dataclass
class _Child:
    """The driver's view of one trial's child run."""

    trial_id: str
    run_id: Optional[str] = None  # set by the writer thread once the run exists
    last_step: Optional[int] = None  # the last step whose metrics were queued
    config: dict = field(default_factory=dict)  # the searched values now in force
    history: list = field(default_factory=list)  # config_history.json
    max_steps: Optional[int] = None
    ended: bool = True  # no open run in this session (until on_trial_start)
    done_seen: bool = False  # a scheduler or stopper set done=True on a result
    failures: int = 0
    failure: Optional[str] = None  # a no-retry failure (divergence, out of memory) the trial reported
    settled: bool = False  # FINISHED in MLflow after its last step: nothing left to log


class _Writer:
    """A background thread that owns every MLflow call made after ``setup``.

    ``call`` queues an operation, ``metrics`` queues metrics of one child; metrics queued
    between two operations are coalesced into ``log_batch`` calls per run, so a slow store
    never stalls the Tune driver. Operations run in the order they were queued.
    """

    def __init__(self, client: "MlflowClient"):
        self.client = client
        self.errors = 0
        self._queue: "queue.Queue[tuple]" = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="tfcli-mlflow-writer", daemon=True)
        self._thread.start()

    def call(self, what: str, fn: Callable[..., None], *args: Any) -> None:
        self._queue.put(("call", what, fn, args))

    def metrics(self, child: _Child, metrics: list, step: int) -> None:
        self._queue.put(("metrics", child, metrics, step))

    def flush(self, timeout: Optional[float] = None) -> bool:
        done = threading.Event()
        self._queue.put(("flush", done))
        return done.wait(timeout)

    def close(self, timeout: Optional[float] = None) -> bool:
        flushed = self.flush(timeout)
        self._queue.put(("stop",))
        if flushed:
            self._thread.join(timeout=5)
        return flushed

    def _loop(self) -> None:
        pending: dict[int, tuple[_Child, list, int]] = {}
        while True:
            items = [self._queue.get()]
            while True:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            for item in items:
                kind = item[0]
                if kind == "metrics":
                    _, child, metrics, step = item
                    _, queued, last = pending.get(id(child), (child, [], step))
                    pending[id(child)] = (child, queued + metrics, max(last, step))
                    continue
                self._write_pending(pending)
                if kind == "call":
                    _, what, fn, args = item
                    self._guard(what, fn, self.client, *args)
                elif kind == "flush":
                    item[1].set()
                elif kind == "stop":
                    return
            self._write_pending(pending)

    def _write_pending(self, pending: dict) -> None:
        from mlflow.entities import RunTag

        for child, metrics, step in pending.values():
            if child.run_id is None:
                self._warn("metrics", f"trial {child.trial_id} has no run")
                continue
            chunks = list(_chunks(metrics, _MAX_METRICS_PER_BATCH)) or [[]]
            for i, chunk in enumerate(chunks):
                # The last-step tag goes with the last chunk, so it never runs ahead of the data.
                tags = [RunTag(TAG_LAST_STEP, str(step))] if i == len(chunks) - 1 else []
                self._guard("log_batch", self.client.log_batch, child.run_id, chunk, (), tags)
        pending.clear()

    def _guard(self, what: str, fn: Callable[..., Any], *args: Any) -> None:
        try:
            fn(*args)
        except Exception as err:  # noqa: BLE001 - tracking must never take a study down
            self._warn(what, err)

    def _warn(self, what: str, err: Any) -> None:
        self.errors += 1
        if self.errors <= 5 or self.errors % 100 == 0:
            log.warning("MLflow: %s failed (%d failures so far): %s", what, self.errors, _one_line(err))


class _StudyTracker:
    """The logic of :class:`MlflowStudyCallback`, without Ray, so tests can drive it directly.

    Constructed on the driver with the store, the study's spec and its id; picklable (Ray
    stores callbacks in ``tuner.pkl``): the client, the writer thread and the run map are
    rebuilt by ``setup`` from the store, which is how a restored study re-attaches.
    """

    _RUNTIME = ("parent_run_id", "experiment_id", "_children", "_writer", "_client", "_budget_s", "_t0")

    def __init__(
        self,
        tracking: Tracking,
        spec: "StudySpec",
        study_id: str,
        *,
        study_file: Optional[str | Path] = None,
        ray_address: Optional[str] = None,
        tags: Optional[Mapping[str, Any]] = None,
        log_hparams: Optional[bool] = None,
        flush_timeout_s: float = 300.0,
    ):
        self.tracking = tracking
        self.spec = spec
        self.study_id = study_id
        self.study_file = str(study_file) if study_file is not None else spec.source_file
        self.ray_address = ray_address
        self.extra_tags = {k: str(v) for k, v in (tags or {}).items()}
        self.log_hparams = spec.scheduler.type == "pbt" if log_hparams is None else log_hparams
        self.flush_timeout_s = flush_timeout_s
        self._reset()

    def _reset(self) -> None:
        self.parent_run_id: Optional[str] = None
        self.experiment_id: Optional[str] = None
        self._children: dict[str, _Child] = {}
        self._writer: Optional[_Writer] = None
        self._client = None
        self._budget_s: Optional[float] = None
        self._t0 = time.monotonic()

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        for key in self._RUNTIME:
            state.pop(key, None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._reset()

    def get_state(self) -> Optional[dict]:
        return None  # the store is the state: setup re-reads it

    # -- Tune hooks --------------------------------------------------------------------------

    def setup(
        self, stop: Any = None, num_samples: Any = None, total_num_samples: Any = None, **info: Any
    ) -> None:
        if self._writer is not None:
            self._writer.close(self.flush_timeout_s)
        self._reset()
        self._budget_s = info.get("time_budget_s")
        client = self.tracking.client()
        self._client = client
        self.experiment_id = ensure_experiment(self.tracking, self.spec.name, client)
        self.parent_run_id = self._attach_parent(client)
        self._children = self._load_children(client)
        self._writer = _Writer(client)

    def on_trial_start(self, iteration: int = 0, trials: Any = None, trial: Any = None, **info: Any) -> None:
        child = self._children.get(trial.trial_id)
        if child is None:
            self._create_child(trial)
        elif child.ended and not child.settled:
            # A trial Ray restarts after a driver crash may have finished in MLflow already,
            # when the crash came before Ray saved its own state; such a run stays closed.
            self._reopen_child(child, trial)

    def on_trial_restore(self, iteration: int = 0, trials: Any = None, trial: Any = None, **info: Any) -> None:
        pass

    def on_trial_result(
        self,
        iteration: int = 0,
        trials: Any = None,
        trial: Any = None,
        result: Optional[dict] = None,
        **info: Any,
    ) -> None:
        from mlflow.entities import Metric

        result = result or {}
        child = self._child(trial)
        if child.settled:
            return
        if result.get(FAILURE_RESULT_KEY):
            child.failure = f"{result[FAILURE_RESULT_KEY]}: {result.get(FAILURE_MESSAGE_RESULT_KEY, '')}".strip()
            return  # its objective is a sentinel (the worst value), not a measurement
        step = _step_of(result)
        if step is None:
            return
        config = _searched(trial.config)
        if config != child.config:
            self._record_config_change(child, config, step)
        if result.get("done"):
            child.done_seen = True
        if child.last_step is not None and step <= child.last_step:
            return  # logged before a restore (or a PBT exploit went back in steps)
        now = _now_ms()
        metrics = [
            Metric(_metric_name(k), float(v), now, step) for k, v in _numeric_items(result, RAY_RESULT_KEYS)
        ]
        if self.log_hparams:
            metrics += [
                Metric(_metric_name(HPARAM_METRIC_PREFIX + k), float(v), now, step)
                for k, v in _numeric_items(config)
            ]
        child.last_step = step
        self._writer.metrics(child, metrics, step)

    def on_trial_complete(self, iteration: int = 0, trials: Any = None, trial: Any = None, **info: Any) -> None:
        child = self._children.get(trial.trial_id)
        if child is not None and child.failure:
            self._finish(trial, "FAILED", error=child.failure)
        else:
            self._finish(trial, "FINISHED")

    def on_trial_error(self, iteration: int = 0, trials: Any = None, trial: Any = None, **info: Any) -> None:
        self._finish(trial, "FAILED", error=_trial_error_text(trial))

    def on_trial_recover(self, iteration: int = 0, trials: Any = None, trial: Any = None, **info: Any) -> None:
        child = self._child(trial)
        child.failures += 1
        text = _trial_error_text(trial)
        tags = {TAG_NUM_FAILURES: str(child.failures)}
        artifact = f"errors/failure_{child.failures}.txt"
        self._writer.call("recover", _op_tags_and_text, child, tags, text, artifact)

    def on_experiment_end(self, trials: Any = None, **info: Any) -> None:
        if self._writer is None:
            return
        budget_spent = bool(self._budget_s) and time.monotonic() - self._t0 >= float(self._budget_s) * 0.98
        killed = False
        for trial in trials or []:
            child = self._children.get(trial.trial_id)
            if child is None or child.ended:
                continue
            if budget_spent:
                self._finish(trial, "FINISHED", stop_reason="time_budget")
            else:
                self._finish(trial, "KILLED")
                killed = True
        status = "KILLED" if killed else "FINISHED"
        self._writer.call("end study", _op_terminate, self.parent_run_id, status)
        if not self._writer.close(self.flush_timeout_s):
            log.warning(
                "MLflow: not everything was written within %.0fs; the store may miss the last results",
                self.flush_timeout_s,
            )
        self._writer = None

    # other hooks of ray.tune.Callback keep their no-op defaults

    # -- parent and children -----------------------------------------------------------------

    def _attach_parent(self, client: "MlflowClient") -> str:
        spec = self.spec
        tags = {
            TAG_STUDY_ID: self.study_id,
            TAG_STUDY_NAME: spec.name,
            TAG_ROLE: ROLE_STUDY,
            TAG_TASK: spec.task.type,
            TAG_OBJECTIVE_METRIC: spec.objective.metric,
            TAG_OBJECTIVE_MODE: spec.objective.mode,
            TAG_HOST: socket.gethostname(),
            TAG_RAY_ADDRESS: self.ray_address or _ray_address(),
            **_environment_tags(),
            **self.extra_tags,
        }
        spec_json = spec.model_dump_json(indent=2)
        if len(spec_json) <= _MAX_TAG_VALUE:
            tags[TAG_SPEC] = spec_json
        existing = _search(
            client,
            [self.experiment_id],
            f"{_tag(TAG_STUDY_ID)} = {_quote(self.study_id)} and {_tag(TAG_ROLE)} = '{ROLE_STUDY}'",
            order_by=["attributes.start_time ASC"],
        )
        if existing:
            run_id = existing[0].info.run_id
            client.update_run(run_id, status="RUNNING")
            _log_tags(client, run_id, tags)
        else:
            run_id = client.create_run(self.experiment_id, tags=tags, run_name=spec.name).info.run_id
        client.log_text(run_id, spec_json, SPEC_ARTIFACT)
        study_text = None
        if self.study_file and Path(self.study_file).is_file():
            study_text = Path(self.study_file).read_text(encoding="utf-8")
        if study_text is None:
            import yaml

            study_text = yaml.safe_dump(json.loads(spec_json), sort_keys=False)
        client.log_text(run_id, study_text, STUDY_FILE_ARTIFACT)
        return run_id

    def _load_children(self, client: "MlflowClient") -> dict[str, _Child]:
        children: dict[str, _Child] = {}
        runs = _search(
            client,
            [self.experiment_id],
            f"{_tag(TAG_STUDY_ID)} = {_quote(self.study_id)} and {_tag(TAG_ROLE)} = '{ROLE_TRIAL}'",
            order_by=["attributes.start_time ASC"],
        )
        for run in runs:
            tags = run.data.tags
            trial_id = tags.get(TAG_TRIAL_ID)
            if not trial_id or trial_id in children:
                continue
            config = _json_tag(tags.get(TAG_CONFIG_FINAL)) or _json_tag(tags.get(TAG_CONFIG)) or {}
            history = []
            if (_int(tags.get(TAG_CONFIG_CHANGES)) or 0) > 0:
                history = _json_tag(_read_text_artifact(client, run.info.run_id, CONFIG_HISTORY_ARTIFACT)) or []
            last_step = _int(tags.get(TAG_LAST_STEP))
            if last_step is None and run.data.metrics:
                steps = [
                    m.step for key in run.data.metrics for m in client.get_metric_history(run.info.run_id, key)
                ]
                last_step = max(steps) if steps else None
            children[trial_id] = _Child(
                trial_id=trial_id,
                run_id=run.info.run_id,
                last_step=last_step,
                config=config,
                history=history or [{"step": 0, "config": config}],
                max_steps=self._trial_spec(config).train.max_steps,
                ended=True,
                failures=_int(tags.get(TAG_NUM_FAILURES)) or 0,
            )
            max_steps = children[trial_id].max_steps
            children[trial_id].settled = (
                run.info.status == "FINISHED" and last_step is not None and max_steps is not None and last_step >= max_steps
            )
        return children

    def _child(self, trial: Any) -> _Child:
        child = self._children.get(trial.trial_id)
        if child is None:
            child = self._create_child(trial)
        elif child.ended and not child.settled:
            self._reopen_child(child, trial)
        return child

    def _create_child(self, trial: Any) -> _Child:
        config = _searched(trial.config)
        trial_spec = self._trial_spec(config)
        child = _Child(
            trial_id=trial.trial_id,
            config=config,
            history=[{"step": 0, "config": config}],
            max_steps=trial_spec.train.max_steps,
            ended=False,
        )
        self._children[trial.trial_id] = child
        tags = {
            TAG_PARENT_RUN: self.parent_run_id,
            TAG_STUDY_ID: self.study_id,
            TAG_STUDY_NAME: self.spec.name,
            TAG_ROLE: ROLE_TRIAL,
            TAG_TRIAL_ID: trial.trial_id,
            TAG_TRIAL_NAME: str(trial),
            TAG_EXPERIMENT_TAG: str(getattr(trial, "experiment_tag", "") or ""),
            TAG_CONFIG: _truncate(json.dumps(config, sort_keys=True), _MAX_TAG_VALUE),
            TAG_OBJECTIVE_METRIC: self.spec.objective.metric,
            TAG_OBJECTIVE_MODE: self.spec.objective.mode,
            TAG_TASK: self.spec.task.type,
        }
        params = spec_params(trial_spec)
        self._writer.call("create trial run", _op_create_child, self.experiment_id, child, tags, params)
        return child

    def _reopen_child(self, child: _Child, trial: Any) -> None:
        child.ended = False
        child.done_seen = False
        self._writer.call("reopen trial run", _op_reopen, child)

    def _trial_spec(self, config: Mapping[str, Any]) -> "StudySpec":
        from tfcli.study.spec import SEARCHABLE_SECTIONS

        overrides = {}
        for path, value in config.items():
            section, _, name = path.partition(".")
            if section in SEARCHABLE_SECTIONS and name in SEARCHABLE_SECTIONS[section].model_fields:
                overrides[path] = value
        try:
            return self.spec.with_overrides(overrides)
        except (KeyError, ValueError):
            return self.spec

    def _record_config_change(self, child: _Child, config: dict, step: int) -> None:
        changes = {
            key: {"from": child.config.get(key), "to": config.get(key)}
            for key in sorted(set(child.config) | set(config))
            if child.config.get(key) != config.get(key)
        }
        child.config = config
        child.history.append({"step": step, "config": config, "changes": changes})
        tags = {
            TAG_CONFIG_CHANGES: str(len(child.history) - 1),
            TAG_CONFIG_FINAL: _truncate(json.dumps(config, sort_keys=True), _MAX_TAG_VALUE),
        }
        history = json.loads(json.dumps(child.history))  # a snapshot for the writer thread
        self._writer.call("config change", _op_config_change, child, tags, history)

    def _finish(
        self, trial: Any, status: str, *, error: Optional[str] = None, stop_reason: Optional[str] = None
    ) -> None:
        child = self._children.get(trial.trial_id)
        if child is None and error is None:
            return  # a trial that never started (removed while pending): no run to end
        child = self._child(trial)
        if child.ended:
            return
        child.ended = True
        tags: dict[str, str] = {}
        if status == "FINISHED":
            early = stop_reason is not None or (
                child.done_seen
                and child.max_steps is not None
                and child.last_step is not None
                and child.last_step < child.max_steps
            )
            if early:
                tags[TAG_STOPPED_EARLY] = "true"
                tags[TAG_STOP_REASON] = stop_reason or "scheduler"
        if error:
            tags[TAG_ERROR] = _truncate(_error_summary(error), 1000)
        checkpoint = None
        if status != "KILLED":  # a killed trial's checkpoint is logged when it ends after resume
            best = best_checkpoint(trial, self.spec.objective.metric, self.spec.objective.mode)
            if best is not None:
                checkpoint, value, step = best
                if value is not None:
                    tags[TAG_OBJECTIVE_VALUE] = repr(float(value))
                if step is not None:
                    tags[TAG_OBJECTIVE_STEP] = str(step)
                    tags[TAG_CHECKPOINT_STEP] = str(step)
        self._writer.call("end trial run", _op_finish_child, child, status, tags, error, checkpoint)


def best_checkpoint(trial: Any, metric: str, mode: str) -> Optional[tuple[Any, Optional[float], Optional[int]]]:
    """``(checkpoint, objective value, step)`` of the trial's best kept checkpoint, or None.

    Ray's checkpoint manager keeps the trial's checkpoints (all, or the ``num_to_keep`` best
    by its score attribute, plus the latest) with the result each was reported with; the best
    by ``metric`` under ``mode`` wins, later ones on ties; without the metric, the latest.
    """
    manager = getattr(getattr(trial, "run_metadata", None), "checkpoint_manager", None)
    results = list(getattr(manager, "_checkpoint_results", None) or [])
    latest = getattr(manager, "latest_checkpoint_result", None)
    if latest is not None and all(latest is not r for r in results):
        results.append(latest)
    best, best_value = None, None
    for result in results:
        if getattr(result, "checkpoint", None) is None:
            continue
        value = _number(_flatten(result.metrics or {}).get(metric))
        if value is None or math.isnan(value):
            continue
        if best is None or not better(best_value, value, mode):
            best, best_value = result, value
    if best is None:
        if latest is not None and latest.checkpoint is not None:
            return latest.checkpoint, None, _step_of(latest.metrics or {})
        checkpoint = getattr(trial, "checkpoint", None)
        return (checkpoint, None, None) if checkpoint is not None else None
    return best.checkpoint, best_value, _step_of(best.metrics or {})


def spec_params(spec: "StudySpec") -> dict[str, str]:
    """A spec's ``model``, ``train``, ``data`` and ``eval`` sections as dotted MLflow params."""
    params = {}
    for section in ("model", "train", "data", "eval"):
        for name, value in getattr(spec, section).model_dump(mode="json").items():
            params[f"{section}.{name}"] = _param_value(value)
    return params


# writer-thread operations: (client, *args)


def _op_create_child(client, experiment_id: str, child: _Child, tags: dict, params: dict) -> None:
    run = client.create_run(experiment_id, tags=tags, run_name=child.trial_id)
    child.run_id = run.info.run_id
    _log_params(client, child.run_id, params)


def _op_reopen(client, child: _Child) -> None:
    if child.run_id is None:
        return
    client.update_run(child.run_id, status="RUNNING")
    tags = client.get_run(child.run_id).data.tags
    for key in (TAG_STOPPED_EARLY, TAG_STOP_REASON, TAG_ERROR):
        if key in tags:
            client.delete_tag(child.run_id, key)


def _op_config_change(client, child: _Child, tags: dict, history: list) -> None:
    if child.run_id is None:
        return
    _log_tags(client, child.run_id, tags)
    client.log_dict(child.run_id, history, CONFIG_HISTORY_ARTIFACT)


def _op_tags_and_text(client, child: _Child, tags: dict, text: Optional[str], artifact_file: str) -> None:
    if child.run_id is None:
        return
    _log_tags(client, child.run_id, tags)
    if text:
        client.log_text(child.run_id, text, artifact_file)


def _op_finish_child(
    client, child: _Child, status: str, tags: dict, error: Optional[str], checkpoint: Any
) -> None:
    if child.run_id is None:
        return
    try:
        if error:
            client.log_text(child.run_id, error, ERROR_ARTIFACT)
        if checkpoint is not None:
            with checkpoint.as_directory() as local_dir:
                client.log_artifacts(child.run_id, local_dir, CHECKPOINT_ARTIFACT_PATH)
            tags = {**tags, TAG_CHECKPOINT: CHECKPOINT_ARTIFACT_PATH}
        _log_tags(client, child.run_id, tags)
    finally:
        client.set_terminated(child.run_id, status)


def _op_terminate(client, run_id: Optional[str], status: str) -> None:
    if run_id is not None:
        client.set_terminated(run_id, status)


_CALLBACK_CLASS = None


def _callback_class() -> type:
    global _CALLBACK_CLASS
    if _CALLBACK_CLASS is None:
        from ray.tune import Callback

        class MlflowStudyCallback(_StudyTracker, Callback):
            """Ray Tune callback: the driver's only writer to MLflow for a study.

            ``MlflowStudyCallback(tracking, spec, study_id, study_file=None, ray_address=None,
            tags=None, log_hparams=None, flush_timeout_s=300)``; pass it in
            ``tune.RunConfig(callbacks=[...])``. See the module docstring for what it logs.
            """

        MlflowStudyCallback.__module__ = __name__
        MlflowStudyCallback.__qualname__ = "MlflowStudyCallback"
        _CALLBACK_CLASS = MlflowStudyCallback
    return _CALLBACK_CLASS


def __getattr__(name: str) -> Any:
    # MlflowStudyCallback subclasses ray.tune.Callback; building it on first access keeps
    # Ray out of `import tfcli.tracking`. Pickle finds it by name through this hook too.
    if name == "MlflowStudyCallback":
        return _callback_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --- helpers -----------------------------------------------------------------------------------


def _quiet_mlflow_logs() -> None:
    for name in ("mlflow.store.db.utils", "alembic.runtime.migration", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _sqlite_path(uri: str, base: Optional[Path] = None) -> Optional[Path]:
    if not uri.startswith("sqlite:///"):
        return None
    raw = uri[len("sqlite:///"):].partition("?")[0]
    if not raw or raw == ":memory:":
        return None
    from urllib.parse import unquote

    path = Path(unquote(raw)).expanduser()
    if not path.is_absolute():
        path = (base if base is not None else Path.cwd()) / path
    return Path(os.path.abspath(path))


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name).strip(".") or "experiment"


def _tag(key: str) -> str:
    return f"tags.`{key}`"


def _quote(value: str) -> str:
    if "'" in value:
        raise ValueError(f"an id must not contain quotes, but got {value!r}")
    return f"'{value}'"


def _experiment_ids(client: "MlflowClient", experiment_id: Optional[str]) -> list[str]:
    if experiment_id is not None:
        return [experiment_id]
    return [e.experiment_id for e in _all_experiments(client)]


def _all_experiments(client: "MlflowClient") -> list:
    experiments, token = [], None
    while True:
        page = client.search_experiments(max_results=1000, page_token=token)
        experiments.extend(page)
        token = page.token
        if not token:
            return experiments


def _search(client: "MlflowClient", experiment_ids: list[str], filter_string: str, order_by=None) -> list:
    if not experiment_ids:
        return []
    runs, token = [], None
    while True:
        page = client.search_runs(
            experiment_ids, filter_string, max_results=1000, order_by=order_by, page_token=token
        )
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def _log_params(client: "MlflowClient", run_id: str, params: Mapping[str, Any]) -> None:
    from mlflow.entities import Param

    batch = [Param(_metric_name(k), _truncate(_param_value(v), _MAX_PARAM_VALUE)) for k, v in params.items()]
    for chunk in _chunks(batch, _MAX_TAGS_PER_BATCH):
        client.log_batch(run_id, params=chunk)


def _log_tags(client: "MlflowClient", run_id: str, tags: Mapping[str, str]) -> None:
    from mlflow.entities import RunTag

    batch = [RunTag(k, _truncate(str(v), _MAX_TAG_VALUE)) for k, v in tags.items() if v is not None]
    for chunk in _chunks(batch, _MAX_TAGS_PER_BATCH):
        client.log_batch(run_id, tags=chunk)


def _read_text_artifact(client: "MlflowClient", run_id: str, path: str) -> Optional[str]:
    import tempfile

    try:
        with tempfile.TemporaryDirectory() as tmp:
            local = client.download_artifacts(run_id, path, tmp)
            return Path(local).read_text(encoding="utf-8")
    except Exception:  # noqa: BLE001 - a missing artifact reads as None
        return None


def _environment_tags() -> dict[str, str]:
    """Git commit and dirty flag of the cwd's repository (best effort), versions, user."""
    from importlib import metadata

    tags = {}
    for package in ("tfcli", "torch", "ray", "mlflow"):
        try:
            tags[TAG_VERSION_PREFIX + package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            tags[TAG_VERSION_PREFIX + package] = "not installed"
    commit, dirty = _git_state()
    if commit:
        tags[TAG_GIT_COMMIT] = commit
        tags[TAG_MLFLOW_GIT_COMMIT] = commit
        tags[TAG_GIT_DIRTY] = "true" if dirty else "false"
    try:
        import getpass

        tags[TAG_MLFLOW_USER] = getpass.getuser()
    except Exception:  # noqa: BLE001
        pass
    return tags


def _git_state() -> tuple[Optional[str], bool]:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
        return commit or None, bool(status)
    except (OSError, subprocess.SubprocessError):
        return None, False


def _ray_address() -> str:
    try:
        import ray

        if ray.is_initialized():
            return str(ray.get_runtime_context().gcs_address)
    except Exception:  # noqa: BLE001
        pass
    return "local"


def _trial_error_text(trial: Any) -> str:
    path = getattr(trial, "error_file", None)
    if path and os.path.isfile(path):
        try:
            return Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            pass
    try:
        error = trial.get_error()
        if error:
            return str(error)
    except Exception:  # noqa: BLE001
        pass
    return f"trial {trial.trial_id} failed (Ray gave no error text)"


def _error_summary(text: str) -> str:
    """The last line that names the error (``ValueError: boom``), without ANSI colours."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in text.strip().splitlines()]
    lines = [line for line in lines if line and not line.startswith(("Failure #", "^"))]
    return lines[-1] if lines else text.strip()[:200]


def _searched(config: Mapping[str, Any] | None) -> dict:
    """A trial's config as plain JSON values (Ray may hand numpy scalars)."""
    return {str(k): _plain(v) for k, v in (config or {}).items()}


def _plain(value: Any) -> Any:
    if isinstance(value, (str, bool, int, float)) or value is None:
        return value
    if hasattr(value, "item") and callable(value.item):
        try:
            return value.item()
        except (TypeError, ValueError):
            pass
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value)


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict:
    flat = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}/"))
        else:
            flat[name] = value
    return flat


def _numeric_items(data: Mapping[str, Any], skip: Iterable[str] = ()) -> Iterable[tuple[str, float]]:
    skip = set(skip) | {STEP_KEY}
    for key, value in data.items():
        if key in skip:
            continue
        if isinstance(value, Mapping):
            for sub, sub_value in _flatten(value, f"{key}/").items():
                number = _number(sub_value)
                if number is not None:
                    yield sub, number
            continue
        number = _number(value)
        if number is not None:
            yield key, number


def _number(value: Any) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    return float(value)


def _step_of(result: Mapping[str, Any]) -> Optional[int]:
    for key in (STEP_KEY, "training_iteration"):
        value = _number(result.get(key))
        if value is not None and math.isfinite(value):
            return int(value)
    return None


def _metric_name(name: str) -> str:
    name = re.sub(r"[^/\w.\- :]", "_", str(name))
    return re.sub(r"/+", "/", name).strip("/") or "_"


def _param_value(value: Any) -> str:
    if value is None or isinstance(value, (str, bool, int, float)):
        return str(value)
    return json.dumps(_plain(value), sort_keys=True)


_INT = re.compile(r"^[-+]?\d+$")
_FLOAT = re.compile(r"^[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?$")


def _parse_param(text: str) -> Any:
    """An MLflow param string typed back: ints, floats, booleans, None; else the string."""
    if text == "None":
        return None
    if text in ("True", "False"):
        return text == "True"
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    return text


def _json_tag(text: Optional[str]) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _float(text: Optional[str]) -> Optional[float]:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _int(text: Optional[str]) -> Optional[int]:
    try:
        return int(float(text)) if text is not None else None
    except ValueError:
        return None


def _datetime(ms: Optional[int]) -> Optional[datetime]:
    return datetime.fromtimestamp(ms / 1000.0, tz=timezone.utc) if ms else None


def _now_ms() -> int:
    return int(time.time() * 1000)


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _one_line(err: Any) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def _chunks(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- artifacts and models (report/export) ---------------------------------------------------
#
# What ``tfcli report``, ``tfcli export``, ``tfcli predict`` and ``tfcli ui`` need from MLflow.
# Added for issue 6; everything above this line is untouched by it.

TAG_PARAMETERS = "tfcli.parameters"  # a run's parameter count, when its writer knew it
TAG_EXPORT_TRIAL_RUN = "tfcli.source_run_id"  # a logged model: the trial run it came from
REPORT_ARTIFACT = "report.html"


@dataclass(frozen=True)
class StudySnapshot:
    """One read of a study: its record, its trials (without metric history) and their tags.

    ``tags`` maps each trial's run id to all of its run's tags, for what :class:`TrialRecord`
    does not carry (``tfcli.parameters``, ``tfcli.experiment_tag``, ...).
    """

    study: StudyRecord
    trials: list
    tags: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


def study_names(tracking: Tracking) -> list[str]:
    """The names of the studies in the store (one search over the parent runs), sorted."""
    client = tracking.client()
    experiment_ids = [e.experiment_id for e in _all_experiments(client)]
    parents = _search(client, experiment_ids, f"{_tag(TAG_ROLE)} = '{ROLE_STUDY}'")
    return sorted({p.data.tags.get(TAG_STUDY_NAME) or p.info.run_name or "" for p in parents} - {""})


def unknown_study_error(tracking: Tracking, name: str) -> StudyError:
    """The one-line error for a study name the store does not hold, naming the ones it does."""
    known = study_names(tracking)
    listing = f"known studies: {', '.join(known)}" if known else "the store holds no study yet"
    return StudyError(
        f"the study must exist in the tracking store, but there is no study named {name!r} "
        f"in {tracking.uri} ({listing})"
    )


def load_study(tracking: Tracking, name: str) -> StudySnapshot:
    """The study ``name`` with all of its trials, read in a few paged searches.

    The fast path of the reports: no metric history is read (``TrialRecord.best`` is empty;
    the objective's best value and step come from the tags the callback sets at a trial's
    end). Raises :class:`StudyError` naming the known studies when there is no such study.
    """
    parent = find_study(tracking, name)
    if parent is None:
        raise unknown_study_error(tracking, name)
    client = tracking.client()
    tags = parent.data.tags
    study_id = tags.get(TAG_STUDY_ID, "")
    children = _sql_study_runs(client, parent.info.experiment_id, study_id)
    if children is None:
        children = study_runs(tracking, study_id, experiment_id=parent.info.experiment_id)
    trials = [
        _trial_record(
            run,
            client=client,
            study=name,
            objective_metric=tags.get(TAG_OBJECTIVE_METRIC),
            objective_mode=tags.get(TAG_OBJECTIVE_MODE),
            history=False,
        )
        for run in children
    ]
    with _no_progress_bars():  # _study_record downloads spec.json when the tag lacks it
        study = _study_record(parent, children, client)
    return StudySnapshot(
        study=study,
        trials=trials,
        tags={run.info.run_id: dict(run.data.tags) for run in children},
    )


def metric_histories(tracking: Tracking, run_ids: Iterable[str], key: str) -> dict[str, list[tuple[int, float]]]:
    """``{run_id: [(step, value), ...]}`` of the metric ``key``, sorted by step (one call per run)."""
    client = tracking.client()
    histories = {}
    for run_id in run_ids:
        points = sorted(client.get_metric_history(run_id, key), key=lambda m: (m.step, m.timestamp))
        histories[run_id] = [(int(m.step), float(m.value)) for m in points]
    return histories


def download_run_artifact(
    tracking: Tracking, run_id: str, path: str, dst: str | Path, *, artifact_uri: Optional[str] = None
) -> Optional[Path]:
    """Download the artifact ``path`` (a file or a folder) of a run into ``dst``; None if absent.

    Goes through MLflow's artifact repositories, so it works the same on a local store and on
    a tracking server that proxies or points at remote artifact storage. With the run's
    ``artifact_uri`` (a TrialRecord has it) MLflow skips looking the run up: about 6x faster.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    Path(dst).mkdir(parents=True, exist_ok=True)
    try:
        with _no_progress_bars():
            if artifact_uri:
                uri = f"{artifact_uri.rstrip('/')}/{path.lstrip('/')}"
                return Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(dst), tracking_uri=tracking.uri))
            return Path(tracking.client().download_artifacts(run_id, path, str(dst)))
    except (MlflowException, OSError):
        return None


def list_run_artifacts(tracking: Tracking, run_id: str, path: Optional[str] = None) -> list[str]:
    """The artifact paths directly under ``path`` of a run (empty when there are none)."""
    from mlflow.exceptions import MlflowException

    try:
        return [a.path for a in tracking.client().list_artifacts(run_id, path)]
    except (MlflowException, OSError):
        return []


def log_run_artifact(tracking: Tracking, run_id: str, local_path: str | Path, artifact_path: Optional[str] = None) -> str:
    """Log a local file to an existing run (its status is left as it is); returns its artifact URI."""
    client = tracking.client()
    client.log_artifact(run_id, str(local_path), artifact_path)
    name = Path(local_path).name
    base = client.get_run(run_id).info.artifact_uri.rstrip("/")
    return f"{base}/{artifact_path.strip('/')}/{name}" if artifact_path else f"{base}/{name}"


@dataclass(frozen=True)
class RegisteredModel:
    """What :func:`log_pyfunc_model` logged and registered."""

    name: str
    version: str
    alias: Optional[str]
    model_id: str
    model_uri: str  # models:/<model_id>
    registered_uri: str  # models:/NAME@alias, or models:/NAME/VERSION without an alias


def log_pyfunc_model(
    tracking: Tracking,
    *,
    code_path: str | Path,
    artifacts: Mapping[str, str],
    registered_model_name: str,
    experiment_id: str,
    source_run_id: Optional[str],
    input_columns: list[str],
    params: Optional[Mapping[str, Any]] = None,
    tags: Optional[Mapping[str, Any]] = None,
    pip_requirements: Optional[list[str]] = None,
    alias: Optional[str] = "best",
    name: str = "model",
) -> RegisteredModel:
    """Log a "models from code" pyfunc model and register a version of it under ``alias``.

    ``code_path`` is the Python file that defines the model and calls
    ``mlflow.models.set_model``: MLflow stores the file itself, never a pickle, and loads the
    model by running it. ``artifacts`` are local files or folders copied with the model (the
    file calls ``context.artifacts[key]``). The model is a LoggedModel of the experiment
    ``experiment_id`` whose source run is ``source_run_id`` (the trial), created without
    reopening that run, so its status and end time stay as they were. Its signature: string
    columns ``input_columns`` in, one string column out, with the optional params
    ``beam_size`` and ``batch_size`` (0: the model's own setting).
    """
    import warnings

    import mlflow
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

    signature = ModelSignature(
        inputs=Schema([ColSpec("string", column) for column in input_columns]),
        outputs=Schema([ColSpec("string", "prediction")]),
        params=ParamSchema([ParamSpec("beam_size", "long", 0), ParamSpec("batch_size", "long", 0)]),
    )
    client = tracking.client()
    with _fluent_store(tracking), _no_progress_bars():
        logged = client.create_logged_model(
            experiment_id=experiment_id,
            name=name,
            source_run_id=source_run_id,
            params={k: _truncate(_param_value(v), _MAX_PARAM_VALUE) for k, v in (params or {}).items()},
            tags={k: _truncate(str(v), _MAX_TAG_VALUE) for k, v in (tags or {}).items()},
        )
        with warnings.catch_warnings():
            # "An input example was not provided": the signature is given instead.
            warnings.filterwarnings("ignore", message=".*input example.*", category=UserWarning)
            info = mlflow.pyfunc.log_model(
                name=name,
                python_model=str(code_path),
                artifacts=dict(artifacts),
                signature=signature,
                pip_requirements=pip_requirements,
                model_id=logged.model_id,
                registered_model_name=registered_model_name,
                await_registration_for=60,
            )
        version = str(info.registered_model_version)
        if alias:
            client.set_registered_model_alias(registered_model_name, alias, version)
    return RegisteredModel(
        name=registered_model_name,
        version=version,
        alias=alias,
        model_id=logged.model_id,
        model_uri=f"models:/{logged.model_id}",
        registered_uri=f"models:/{registered_model_name}@{alias}" if alias else f"models:/{registered_model_name}/{version}",
    )


def download_model(tracking: Tracking, model_uri: str, dst: str | Path) -> Path:
    """Download a model's files (``models:/NAME@alias``, ``models:/NAME/VERSION``, ...) to ``dst``.

    Only files are fetched; nothing is loaded or run. Raises :class:`StudyError` in one line
    when the store has no such model.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    Path(dst).mkdir(parents=True, exist_ok=True)
    with _fluent_store(tracking), _no_progress_bars():
        try:
            return Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=str(dst)))
        except (MlflowException, OSError) as err:
            raise StudyError(
                f"the model must be registered in {tracking.uri}, but {model_uri} could not be "
                f"fetched: {_one_line(getattr(err, 'message', err))}"
            ) from None


def ui_command(tracking: Tracking, *, host: str, port: int, workers: int = 1) -> list[str]:
    """The ``mlflow server`` command line that serves the UI (and REST API) on the store.

    A local store serves its SQLite database with its artifact folder as both the default
    artifact root of new experiments and the destination of proxied artifact uploads.
    """
    import sys

    if tracking.is_remote:
        raise StudyError(
            f"`tfcli ui` serves a local store, but the tracking URI is the server {tracking.uri}; "
            "open it in a browser instead"
        )
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", tracking.uri]
    if tracking.artifact_root is not None:
        root = Path(tracking.artifact_root).absolute()
        command += ["--default-artifact-root", str(root), "--artifacts-destination", str(root)]
    command += ["--host", host, "--port", str(int(port)), "--workers", str(int(workers))]
    return command


class _fluent_store:
    """Point MLflow's fluent API (tracking and registry) at ``tracking`` for a ``with`` block.

    MLflow keeps both URIs in module globals and in environment variables; both are put back
    on exit, so the rest of the process (and its subprocesses) sees what it saw before.
    """

    def __init__(self, tracking: Tracking):
        self.tracking = tracking

    def __enter__(self) -> "_fluent_store":
        import mlflow
        from mlflow.tracking._model_registry import utils as registry_utils
        from mlflow.tracking._tracking_service import utils as tracking_utils

        _quiet_mlflow_logs()
        self._saved = (
            tracking_utils._tracking_uri,
            registry_utils._registry_uri,
            os.environ.get("MLFLOW_TRACKING_URI"),
            os.environ.get("MLFLOW_REGISTRY_URI"),
        )
        mlflow.set_tracking_uri(self.tracking.uri)
        mlflow.set_registry_uri(self.tracking.uri)
        return self

    def __exit__(self, *exc: Any) -> bool:
        import mlflow
        from mlflow.tracking._model_registry import utils as registry_utils

        tracking_uri, registry_uri, env_tracking, env_registry = self._saved
        mlflow.set_tracking_uri(tracking_uri)
        registry_utils._registry_uri = registry_uri
        for key, value in (("MLFLOW_TRACKING_URI", env_tracking), ("MLFLOW_REGISTRY_URI", env_registry)):
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        return False


class _no_progress_bars:
    """No tqdm bars from MLflow's artifact transfers (on stderr, for every file) in a block."""

    _KEY = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"

    def __enter__(self) -> "_no_progress_bars":
        self._saved = os.environ.get(self._KEY)
        if self._saved is None:
            os.environ[self._KEY] = "false"
        return self

    def __exit__(self, *exc: Any) -> bool:
        if self._saved is None:
            os.environ.pop(self._KEY, None)
        return False


@dataclass(frozen=True)
class _RunInfoView:
    run_id: str
    run_name: Optional[str]
    experiment_id: str
    status: str
    start_time: Optional[int]
    end_time: Optional[int]
    lifecycle_stage: str
    artifact_uri: Optional[str]


@dataclass(frozen=True)
class _RunDataView:
    tags: dict
    params: dict
    metrics: dict


@dataclass(frozen=True)
class _RunView:
    """What ``_trial_record`` and ``_study_record`` read of an MLflow ``Run``."""

    info: _RunInfoView
    data: _RunDataView


def _sql_study_runs(client: "MlflowClient", experiment_id: str, study_id: str) -> Optional[list]:
    """The study's child runs read with four SQL queries; None where that is not possible.

    The fast path of :func:`load_study` on a database store (SQLite, PostgreSQL, MySQL): the
    same rows MLflow's ``search_runs`` reads (runs, tags, params, latest metrics), selected
    with SQLAlchemy Core on the store's own engine instead of building an ORM object per row,
    which is what makes ``search_runs`` take seconds for 1,000 runs of 60 params each. The
    values are those MLflow returns (NaN from ``is_nan``; infinities as MLflow stores them).
    Anything unexpected (a server store, another schema) returns None, and the caller uses
    ``search_runs``; a test checks that both give the same runs.
    """
    try:
        import sqlalchemy as sa
        from mlflow.store.tracking.dbmodels.models import SqlLatestMetric, SqlParam, SqlRun, SqlTag
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        store = client._tracking_client.store
        if not isinstance(store, SqlAlchemyStore):
            return None
        in_study = sa.select(SqlTag.run_uuid).where(SqlTag.key == TAG_STUDY_ID, SqlTag.value == study_id)
        is_trial = sa.select(SqlTag.run_uuid).where(SqlTag.key == TAG_ROLE, SqlTag.value == ROLE_TRIAL)
        selected = (
            sa.select(SqlRun.run_uuid)
            .where(SqlRun.experiment_id == int(experiment_id))
            .where(SqlRun.lifecycle_stage == "active")
            .where(SqlRun.run_uuid.in_(in_study))
            .where(SqlRun.run_uuid.in_(is_trial))
        )
        with store.ManagedSessionMaker() as session:
            runs = session.execute(
                sa.select(
                    SqlRun.run_uuid, SqlRun.name, SqlRun.experiment_id, SqlRun.status, SqlRun.start_time,
                    SqlRun.end_time, SqlRun.lifecycle_stage, SqlRun.artifact_uri,
                ).where(SqlRun.run_uuid.in_(selected))
            ).all()
            tags: dict[str, dict] = {r.run_uuid: {} for r in runs}
            params: dict[str, dict] = {r.run_uuid: {} for r in runs}
            metrics: dict[str, dict] = {r.run_uuid: {} for r in runs}
            for run_id, key, value in session.execute(
                sa.select(SqlTag.run_uuid, SqlTag.key, SqlTag.value).where(SqlTag.run_uuid.in_(selected))
            ):
                if run_id in tags:
                    tags[run_id][key] = value
            for run_id, key, value in session.execute(
                sa.select(SqlParam.run_uuid, SqlParam.key, SqlParam.value).where(SqlParam.run_uuid.in_(selected))
            ):
                if run_id in params:
                    params[run_id][key] = value
            for run_id, key, value, is_nan in session.execute(
                sa.select(SqlLatestMetric.run_uuid, SqlLatestMetric.key, SqlLatestMetric.value, SqlLatestMetric.is_nan)
                .where(SqlLatestMetric.run_uuid.in_(selected))
            ):
                if run_id in metrics:
                    metrics[run_id][key] = float("nan") if is_nan else float(value)
    except Exception as err:  # noqa: BLE001 - any surprise: MLflow's own search does the job
        log.debug("fast study read failed, using search_runs: %s", err)
        return None
    views = [
        _RunView(
            info=_RunInfoView(
                run_id=r.run_uuid,
                run_name=r.name or tags[r.run_uuid].get(TAG_RUN_NAME),
                experiment_id=str(r.experiment_id),
                status=r.status,
                start_time=r.start_time,
                end_time=r.end_time,
                lifecycle_stage=r.lifecycle_stage,
                artifact_uri=r.artifact_uri,
            ),
            data=_RunDataView(tags=tags[r.run_uuid], params=params[r.run_uuid], metrics=metrics[r.run_uuid]),
        )
        for r in runs
    ]
    views.sort(key=lambda v: (v.info.start_time is None, v.info.start_time or 0, v.info.run_id))
    return views
