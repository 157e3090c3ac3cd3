"""Reading studies and trials back from the store as records, for the CLI and the reports."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Optional, Sequence

from tfcli.errors import StudyError
from tfcli.records import Confirmation, MetricBest, StudyRecord, TrialRecord, TrialState, TrialStatus, recorded_state
from tfcli.spec.objective import best_point, better, mode_for
from tfcli.tracking import sqlite_reader
from tfcli.tracking.artifacts import no_progress_bars
from tfcli.tracking.sources import History, not_created
from tfcli.tracking.sources import source as source_of
from tfcli.tracking.store import Tracking, check_tracking, moved_store_problem, resolve_tracking
from tfcli.tracking.tags import (
    TAG_TRIAL_NUMBER,
    HPARAM_METRIC_PREFIX,
    ROLE_CONFIRMATION,
    SPEC_ARTIFACT,
    TAG_CHECKPOINT,
    TAG_CHECKPOINT_STEP,
    TAG_CONFIG,
    TAG_CONFIG_CHANGES,
    TAG_CONFIG_FINAL,
    TAG_CONFIRM_SEED,
    TAG_CONFIRMS,
    TAG_ERROR,
    TAG_INFEASIBLE,
    TAG_LAST_STEP,
    TAG_OBJECTIVE_METRIC,
    TAG_OBJECTIVE_MODE,
    TAG_OBJECTIVE_STEP,
    TAG_OBJECTIVE_VALUE,
    TAG_SPEC,
    TAG_STOPPED_EARLY,
    TAG_STUDY_ID,
    TAG_STUDY_NAME,
    TAG_TASK,
    TAG_TRIAL_ID,
)
from tfcli.tracking.values import datetime_from_ms, float_or_none, int_or_none, json_tag, parse_param

if TYPE_CHECKING:  # pragma: no cover
    from mlflow.entities import Run


def study_record(tracking: Tracking, name: str) -> Optional[StudyRecord]:
    """The :class:`StudyRecord` of the study ``name``, or None."""
    with source_of(tracking) as source:
        parent = source.parent(name)
        if parent is None:
            return None
        return _study_record(parent, source.trials(parent), source.text)


def run_tags(tracking: Tracking, run_id: str) -> dict[str, str]:
    """The tags of one run."""
    with source_of(tracking) as source:
        return source.tags(run_id)


def list_studies(tracking: Tracking) -> list[StudyRecord]:
    """Every study in the store (for ``tfcli study list``), newest first."""
    with source_of(tracking) as source:
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
    with source_of(tracking) as source:
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
    with source_of(tracking) as source:
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
    with source_of(tracking) as source:
        parent = source.parent(name)
        if parent is None:
            raise unknown_study_error(tracking, name)
        children = source.trials(parent)
        with no_progress_bars():
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
    if not_created(tracking):
        return tracking
    store = sqlite_reader.open_store(tracking)
    if store is None:
        return check_tracking(tracking)
    with store:
        problem = moved_store_problem(tracking, store.artifact_locations())
    if problem:
        raise StudyError(problem)
    return tracking


def metric_histories(tracking: Tracking, run_ids: Iterable[str], key: str) -> dict[str, list[tuple[int, float]]]:
    """``{run_id: [(step, value), ...]}`` of the metric ``key``, sorted by step (one query per run)."""
    with source_of(tracking) as source:
        return {run_id: source.history(run_id, key) for run_id in run_ids}


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
    counts = {status.value: 0 for status in TrialStatus.mlflow_statuses()}
    states = {state.value: 0 for state in TrialState}
    best_id, best_value = None, None
    for child in children:
        counts[TrialStatus.from_mlflow(child.info.status).value] += 1
        states[recorded_state(child.info.status, child.data.tags.get(TAG_STOPPED_EARLY) == "true").value] += 1
        if child.data.tags.get(TAG_INFEASIBLE):
            continue  # never the study's best (search.constraints)
        value = float_or_none(child.data.tags.get(TAG_OBJECTIVE_VALUE))
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
        start_time=datetime_from_ms(parent.info.start_time),
        end_time=datetime_from_ms(parent.info.end_time) if TrialStatus.from_mlflow(parent.info.status).is_done else None,
        counts=counts,
        states=states,
        best_trial_id=best_id,
        best_value=best_value,
        artifact_uri=parent.info.artifact_uri,
        metrics=dict(parent.data.metrics),
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
    tags, metrics = run.data.tags, dict(run.data.metrics)
    status = TrialStatus.from_mlflow(run.info.status)
    best: dict[str, MetricBest] = {}
    if history is not None:
        for key in sorted(metrics):
            if key.startswith(HPARAM_METRIC_PREFIX):
                continue
            top = best_point(history(run.info.run_id, key), mode_for(key, objective_metric, objective_mode))
            if top is not None:
                best[key] = top
    objective_value = float_or_none(tags.get(TAG_OBJECTIVE_VALUE))
    objective_step = int_or_none(tags.get(TAG_OBJECTIVE_STEP))
    if objective_value is None and objective_metric:
        if objective_metric in best:
            objective_value, objective_step = best[objective_metric].value, best[objective_metric].step
        elif objective_metric in metrics:
            objective_value, objective_step = metrics[objective_metric], int_or_none(tags.get(TAG_LAST_STEP))
    start, end = datetime_from_ms(run.info.start_time), datetime_from_ms(run.info.end_time)
    if not status.is_done:
        end = None
    config = json_tag(tags.get(TAG_CONFIG)) or {}
    checkpoint = tags.get(TAG_CHECKPOINT)
    return TrialRecord(
        study=study,
        study_id=tags.get(TAG_STUDY_ID, ""),
        trial_id=tags.get(TAG_TRIAL_ID, ""),
        run_id=run.info.run_id,
        status=status,
        params={k: parse_param(v) for k, v in sorted(run.data.params.items())},
        config=config,
        final_config=json_tag(tags.get(TAG_CONFIG_FINAL)) or config,
        metrics=metrics,
        best=best,
        objective_metric=objective_metric,
        objective_mode=objective_mode,
        objective_value=objective_value,
        objective_step=objective_step,
        last_step=int_or_none(tags.get(TAG_LAST_STEP)),
        checkpoint_uri=f"{run.info.artifact_uri.rstrip('/')}/{checkpoint}" if checkpoint else None,
        checkpoint_step=int_or_none(tags.get(TAG_CHECKPOINT_STEP)),
        start_time=start,
        end_time=end,
        duration_s=(end - start).total_seconds() if start and end else None,
        error=tags.get(TAG_ERROR),
        stopped_early=tags.get(TAG_STOPPED_EARLY) == "true",
        config_changes=int_or_none(tags.get(TAG_CONFIG_CHANGES)) or 0,
        artifact_uri=run.info.artifact_uri,
        number=int_or_none(tags.get(TAG_TRIAL_NUMBER)),
        infeasible=tags.get(TAG_INFEASIBLE),
    )


def with_history(tracking: Tracking, records: Sequence[TrialRecord], metric: str, *, only: Optional[set] = None) -> list[TrialRecord]:
    """``records`` with ``best[metric]`` filled from MLflow's history (one call per run)."""
    wanted = [r for r in records if metric in r.metrics and (only is None or r.run_id in only)]
    histories = metric_histories(tracking, [r.run_id for r in wanted], metric)
    out = []
    for record in records:
        top = best_point(histories.get(record.run_id) or (), mode_for(metric, record.objective_metric, record.objective_mode))
        out.append(dataclasses.replace(record, best={**record.best, metric: top}) if top is not None else record)
    return out


def confirmation_records(tracking: Tracking, study_name: str) -> list[Confirmation]:
    """The confirmation runs of the study (``tfcli study confirm``), oldest first; [] if none."""
    with source_of(tracking) as source:
        parent = source.parent(study_name)
        if parent is None:
            raise unknown_study_error(tracking, study_name)
        runs = source.trials(parent, ROLE_CONFIRMATION)
        records = _trial_records(parent, runs, None, study=study_name)
    return [
        Confirmation(record=record, confirms=run.data.tags.get(TAG_CONFIRMS, ""), seed=int_or_none(run.data.tags.get(TAG_CONFIRM_SEED)) or 0)
        for record, run in zip(records, runs)
    ]

