"""Reading studies and trials back from the store as records, for the CLI and the reports."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Optional

from tfcli.errors import StudyError
from tfcli.records import MetricBest, StudyRecord, TrialRecord, TrialStatus, better
from tfcli.tracking import sqlite_reader
from tfcli.tracking.artifacts import _no_progress_bars, _read_text_artifact
from tfcli.tracking.search import _all_experiments, _experiment_ids, _quote, _search, _tag
from tfcli.tracking.sql_fast_path import _sql_study_runs
from tfcli.tracking.store import Tracking, check_tracking, resolve_tracking
from tfcli.tracking.tags import (
    HPARAM_METRIC_PREFIX,
    ROLE_STUDY,
    ROLE_TRIAL,
    SPEC_ARTIFACT,
    TAG_CHECKPOINT,
    TAG_CHECKPOINT_STEP,
    TAG_CONFIG,
    TAG_CONFIG_CHANGES,
    TAG_CONFIG_FINAL,
    TAG_ERROR,
    TAG_LAST_STEP,
    TAG_OBJECTIVE_METRIC,
    TAG_OBJECTIVE_MODE,
    TAG_OBJECTIVE_STEP,
    TAG_OBJECTIVE_VALUE,
    TAG_ROLE,
    TAG_SPEC,
    TAG_STOPPED_EARLY,
    TAG_STUDY_ID,
    TAG_STUDY_NAME,
    TAG_TASK,
    TAG_TRIAL_ID,
)
from tfcli.tracking.values import _datetime, _float, _int, _json_tag, _parse_param

if TYPE_CHECKING:  # pragma: no cover
    from mlflow.entities import Run


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
    with _source(tracking) as source:
        parent = source.parent(name)
        if parent is None:
            return None
        return _study_record(parent, source.trials(parent), source.text)


def run_tags(tracking: Tracking, run_id: str) -> dict[str, str]:
    """The tags of one run."""
    with _source(tracking) as source:
        return source.tags(run_id)


def list_studies(tracking: Tracking) -> list[StudyRecord]:
    """Every study in the store (for ``tfcli study list``), newest first."""
    with _source(tracking) as source:
        parents = source.parents()
        if not parents:
            return []
        by_study: dict[str, list] = {}
        for child in source.trials_of_experiments(sorted({p.info.experiment_id for p in parents})):
            by_study.setdefault(child.data.tags.get(TAG_STUDY_ID, ""), []).append(child)
        return [_study_record(p, by_study.get(p.data.tags.get(TAG_STUDY_ID, ""), []), source.text) for p in parents]


def trial_records(tracking: Tracking, study_name: str, *, history: bool = True) -> list[TrialRecord]:
    """The trials of the study ``study_name`` as :class:`TrialRecord`, oldest first.

    ``history=True`` reads each metric's history to fill ``best`` (one query per metric and
    run); without it ``best`` is empty and the objective comes from tags and final values.
    Raises :class:`StudyError` when the store has no such study.
    """
    with _source(tracking) as source:
        parent = source.parent(study_name)
        if parent is None:
            raise StudyError(
                f"the study must exist in the tracking store, but there is no study named {study_name!r} "
                f"in {tracking.uri} (`tfcli study list` shows the studies there)"
            )
        return _trial_records(parent, source.trials(parent), source.history if history else None, study=study_name)


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
    with _source(tracking) as source:
        parents = source.parents()
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
    """The study ``name`` with all of its trials, read in a few queries.

    What the reports read: no metric history (``TrialRecord.best`` is empty; the objective's
    best value and step come from the tags the callback sets at a trial's end). Raises
    :class:`StudyError` naming the known studies when there is no such study.
    """
    with _source(tracking) as source:
        parent = source.parent(name)
        if parent is None:
            raise unknown_study_error(tracking, name)
        children = source.trials(parent)
        with _no_progress_bars():
            study = _study_record(parent, children, source.text)
    return StudySnapshot(
        study=study,
        trials=_trial_records(parent, children, None, study=name),
        tags={run.info.run_id: dict(run.data.tags) for run in children},
    )


def readable_tracking(uri: Optional[str]) -> Tracking:
    """The store at ``uri`` for a command that only reads it.

    A local SQLite store the standard library can read is taken as it is, without importing
    MLflow, and one that does not exist yet reads as empty (nothing is created); any other
    store goes through :func:`check_tracking` (which probes a server).
    """
    tracking = resolve_tracking(uri)
    if _not_created(tracking):
        return tracking
    store = sqlite_reader.open_store(tracking)
    if store is None:
        return check_tracking(tracking)
    store.close()
    return tracking


def metric_histories(tracking: Tracking, run_ids: Iterable[str], key: str) -> dict[str, list[tuple[int, float]]]:
    """``{run_id: [(step, value), ...]}`` of the metric ``key``, sorted by step (one query per run)."""
    with _source(tracking) as source:
        return {run_id: source.history(run_id, key) for run_id in run_ids}


# --- where the runs are read from ------------------------------------------------------------

History = Callable[[str, str], list]  # (run_id, key) -> [(step, value), ...] by step


class _MlflowSource:
    """Runs read through MLflow's client: any store, local or a server."""

    def __init__(self, tracking: Tracking):
        self.tracking = tracking
        self.client = tracking.client()

    def close(self) -> None:
        pass

    def parent(self, name: str) -> Optional["Run"]:
        return find_study(self.tracking, name)

    def parents(self) -> list:
        experiment_ids = [e.experiment_id for e in _all_experiments(self.client)]
        return _search(self.client, experiment_ids, f"{_tag(TAG_ROLE)} = '{ROLE_STUDY}'", order_by=["attributes.start_time DESC"])

    def trials(self, parent: "Run") -> list:
        study_id, experiment_id = parent.data.tags.get(TAG_STUDY_ID, ""), parent.info.experiment_id
        fast = _sql_study_runs(self.client, experiment_id, study_id)
        return fast if fast is not None else study_runs(self.tracking, study_id, experiment_id=experiment_id)

    def trials_of_experiments(self, experiment_ids: list[str]) -> list:
        return _search(self.client, experiment_ids, f"{_tag(TAG_ROLE)} = '{ROLE_TRIAL}'", order_by=["attributes.start_time ASC"])

    def history(self, run_id: str, key: str) -> list[tuple[int, float]]:
        points = sorted(self.client.get_metric_history(run_id, key), key=lambda m: (m.step, m.timestamp))
        return [(int(m.step), float(m.value)) for m in points]

    def text(self, run: Any, path: str) -> Optional[str]:
        return _read_text_artifact(self.client, run.info.run_id, path)

    def tags(self, run_id: str) -> dict[str, str]:
        return dict(self.client.get_run(run_id).data.tags)


class _LocalSource:
    """Runs read from a local SQLite store with the standard library (:mod:`.sqlite_reader`)."""

    def __init__(self, store: "sqlite_reader.SqliteStore"):
        self.store = store

    def close(self) -> None:
        self.store.close()

    def parent(self, name: str) -> Optional[Any]:
        experiment_id = self.store.experiment_id(name)
        if experiment_id is None:
            return None
        parents = self.store.runs_tagged([experiment_id], {TAG_ROLE: ROLE_STUDY}, newest_first=True)
        return parents[0] if parents else None

    def parents(self) -> list:
        return self.store.runs_tagged(self.store.experiment_ids(), {TAG_ROLE: ROLE_STUDY}, newest_first=True)

    def trials(self, parent: Any) -> list:
        tags = {TAG_ROLE: ROLE_TRIAL, TAG_STUDY_ID: parent.data.tags.get(TAG_STUDY_ID, "")}
        return self.store.runs_tagged([parent.info.experiment_id], tags)

    def trials_of_experiments(self, experiment_ids: list[str]) -> list:
        return self.store.runs_tagged(experiment_ids, {TAG_ROLE: ROLE_TRIAL})

    def history(self, run_id: str, key: str) -> list[tuple[int, float]]:
        return [(step, value) for step, value, _ in self.store.metric_history(run_id, key)]

    def text(self, run: Any, path: str) -> Optional[str]:
        local = sqlite_reader.local_artifact(run.info.artifact_uri, path)
        try:
            return local.read_text(encoding="utf-8") if local is not None else None
        except (OSError, UnicodeDecodeError):
            return None

    def tags(self, run_id: str) -> dict[str, str]:
        return self.store.run_tags(run_id)


class _EmptySource:
    """A local store whose database does not exist yet: no studies, and nothing is created."""

    def close(self) -> None:
        pass

    def parent(self, name: str) -> None:
        return None

    def parents(self) -> list:
        return []

    def trials(self, parent: Any) -> list:
        return []

    def trials_of_experiments(self, experiment_ids: list[str]) -> list:
        return []

    def history(self, run_id: str, key: str) -> list:
        return []

    def text(self, run: Any, path: str) -> None:
        return None

    def tags(self, run_id: str) -> dict[str, str]:
        return {}


def _not_created(tracking: Tracking) -> bool:
    db = tracking.sqlite_path
    return db is not None and not db.exists()


@contextmanager
def _source(tracking: Tracking) -> Iterator[Any]:
    """The local store's direct reader where :func:`.sqlite_reader.open_store` allows it, else MLflow."""
    store = sqlite_reader.open_store(tracking)
    if store is not None:
        source = _LocalSource(store)
    elif _not_created(tracking):
        source = _EmptySource()
    else:
        source = _MlflowSource(tracking)
    try:
        yield source
    finally:
        source.close()


def _trial_records(parent: Any, runs: list, history: Optional[History], *, study: str) -> list[TrialRecord]:
    """The trial ``runs`` as records, judged by the objective their parent (the study) names."""
    tags = parent.data.tags
    return [
        _trial_record(
            run,
            history=history,
            study=study,
            objective_metric=tags.get(TAG_OBJECTIVE_METRIC),
            objective_mode=tags.get(TAG_OBJECTIVE_MODE),
        )
        for run in runs
    ]


def _study_record(parent: "Run", children: list, read_text: Callable[[Any, str], Optional[str]]) -> StudyRecord:
    """``read_text(run, path)`` reads a text artifact of ``parent`` (``spec.json``, when the
    spec did not fit in a tag)."""
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
        spec_json = read_text(parent, SPEC_ARTIFACT)
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
    run: Any,
    *,
    history: Optional[History],
    study: str,
    objective_metric: Optional[str],
    objective_mode: Optional[str],
) -> TrialRecord:
    """One trial run as a record; with ``history``, ``best`` holds each metric's best point."""
    from tfcli.data.tasks import metric_mode

    tags, metrics = run.data.tags, dict(run.data.metrics)
    status = TrialStatus.from_mlflow(run.info.status)
    best: dict[str, MetricBest] = {}
    if history is not None:
        for key in sorted(metrics):
            if key.startswith(HPARAM_METRIC_PREFIX):
                continue
            mode = objective_mode if key == objective_metric and objective_mode else metric_mode(key)
            top: Optional[MetricBest] = None
            for step, value in history(run.info.run_id, key):
                if top is None or better(value, top.value, mode):
                    top = MetricBest(value=value, step=step)
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
