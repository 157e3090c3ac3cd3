"""The pre-flight checks of a study, each before anything is written: a ``hyperband`` that
could stop no trial, the study's own data files, the tracking store, a name the store already
holds, and a Ray experiment folder that no study of the store owns.

``tfcli study start`` runs :func:`check_new_study` before it draws its display;
:mod:`tfcli.study.lifecycle` runs the same rules again under the study's lock.
"""

from __future__ import annotations

import json
from typing import Any

from tfcli.cluster.connect import check_address
from tfcli.errors import StudyError
from tfcli.spec.describe import trial_count
from tfcli.spec.rules import lockstep_problem
from tfcli.spec.schema import DataFiles, StudySpec
from tfcli.study.storage import experiment_path
from tfcli.study.warm_start import check_warm_start
from tfcli.tracking import check_tracking, resolve_tracking, study_record
from tfcli.tracking.locks import refuse_if_locked
from tfcli.train.prepare import load_splits


def _comparable(spec_json: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(spec_json, sort_keys=True))


def ensure_new_study(spec: StudySpec, tracking, *, lock_held: bool = False) -> None:
    """Refuse a study name the store already holds, saying how to resume or rename (or, while
    another driver runs it, that it is running; ``lock_held``: this process holds the lock)."""
    existing = study_record(tracking, spec.name)
    if existing is not None:
        if not lock_held:
            refuse_if_locked(tracking, spec.name)
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


def check_data_files(spec: StudySpec) -> None:
    """Read a study's own data files on the driver, as a trial will, before Ray starts or the
    store is touched: bad data is one DataError line naming FILE:LINE (exit 2), not a failed
    trial per configuration. Built-in sets are generated, so there is nothing to read."""
    if isinstance(spec.task.data, DataFiles):
        load_splits(spec)


def check_new_study(
    spec: StudySpec, tracking_uri: str | None, *, num_samples: int | None = None, max_concurrent: int | None = None,
    address: str | None = None,
):
    """The pre-flight checks of a new study, in order, each before anything is written: a
    ``hyperband`` that could stop no trial, its data files, the Ray address (no ``ray://``,
    something listening), the tracking store (opened here, and returned), a name the store
    holds, the study ``search.warm_start`` names. ``tfcli study start`` runs them before it draws its display; :func:`start_study`
    repeats the first and the last under the study's lock."""
    refuse_lockstep(spec, num_samples, max_concurrent)
    check_data_files(spec)
    check_address(address)
    tracking = check_tracking(resolve_tracking(tracking_uri))
    ensure_new_study(spec, tracking)
    check_warm_start(spec, tracking)
    return tracking


def refuse_lockstep(spec: StudySpec, num_samples: int | None, max_concurrent: int | None) -> None:
    """Refuse, before anything is written, a run that ``hyperband`` could not stop a trial of
    (:func:`~tfcli.spec.rules.lockstep_problem`): the study file's limit against the full trial
    count (a grid's too), or the ``--max-concurrent`` / ``--num-samples`` given."""
    limit = max_concurrent if max_concurrent is not None else spec.search.max_concurrent
    problem = lockstep_problem(spec.scheduler.type, limit, trial_count(spec, num_samples))
    if problem:
        where = f"--max-concurrent {max_concurrent}" if max_concurrent is not None else f"{spec.source_file or 'the study file'}: search.max_concurrent"
        raise StudyError(f"{where}: {problem}")


def refuse_orphan_ray_state(name: str, storage: str) -> None:
    """A Ray experiment folder for a name the store has no study of was left by something
    else (a study whose MLflow store was deleted, or a foreign Tune run): never reuse it."""
    from ray import tune

    path = experiment_path(name, storage)
    if tune.Tuner.can_restore(path):
        raise StudyError(
            f"Ray already keeps an experiment {name!r} at {path}, but the tracking store has no study of that "
            "name; move that folder away, pass another --storage, or give the study a new `name:`"
        )
