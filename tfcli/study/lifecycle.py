"""Starting, resuming and extending a study: MLflow bookkeeping around :func:`run_study`.

MLflow is the system of record: a study is found by name in the store, its parent run holds
the resolved spec, its study id, the folder of its study file (relative data paths) and where
Ray keeps its experiments, so ``resume`` and ``extend`` need only the name.
"""

from __future__ import annotations

import json
import logging
import uuid

from tfcli import crash_points
from tfcli.baselines import compute_baselines
from tfcli.cluster.connect import connect, disconnect
from tfcli.data.profile import leakage_summary, read_data
from tfcli.errors import StudyError
from tfcli.records import TrialStatus
from tfcli.spec.describe import trial_count
from tfcli.spec.drift import drift_notice
from tfcli.spec.schema import DataFiles, StudySpec
from tfcli.study.confirm import TAG_CONFIRM_PLAN, merge_plans, owed, plan_confirmations, stored_plan
from tfcli.study.held_out import score_on_test
from tfcli.study.preflight import check_data_files, check_new_study, ensure_new_study, refuse_lockstep, refuse_orphan_ray_state
from tfcli.study.ray_state import drop_gone_checkpoints, orphan_trial_ids, ray_state_problem, restore_torn_state
from tfcli.study.runner import run_study
from tfcli.study.storage import experiment_names, experiment_path, resolve_storage
from tfcli.study.stored import TAG_BASE_DIR, TAG_PLANNED_TRIALS, TAG_RAY_STORAGE, TAG_SOURCE_FILE, StoredStudy, known_study_names, load_stored_study
from tfcli.study.warm_start import searcher_points, warm_start_from
from tfcli.study.watch import Tracked
from tfcli.tracking import confirmation_records, trial_records
from tfcli.tracking.baselines import log_baselines
from tfcli.tracking.claims import create_study_run
from tfcli.tracking.locks import study_lock
from tfcli.tracking.parent import log_data_summary
from tfcli.tracking.superseded import supersede_runs
from tfcli.train.prepare import data_source, load_splits
from tfcli.train.trainable import train_trial

log = logging.getLogger(__name__)

#: Re-exported: the CLI and the tests import the pre-flight checks from here as well.
__all__ = ["check_data_files", "check_new_study", "ensure_new_study", "known_study_names", "StoredStudy", "TAG_RAY_STORAGE"]

def _parent_run_tags(spec: StudySpec, storage: str) -> dict[str, str]:
    """What resume and extend need of a study besides its spec: where Ray keeps it, and where
    its study file (and so its relative data paths) lives."""
    return {TAG_RAY_STORAGE: storage, TAG_BASE_DIR: spec.base_dir or "", TAG_SOURCE_FILE: spec.source_file or ""}


def _callback(tracking, spec: StudySpec, study_id: str, storage: str, address: str | None, confirmations=None):
    from tfcli.tracking import MlflowStudyCallback

    return MlflowStudyCallback(
        tracking, spec, study_id, study_file=spec.source_file, ray_address=address or "local",
        tags=_parent_run_tags(spec, storage), confirmations=confirmations,
    )


def _tracked(callback, progress) -> dict:
    """A run's callbacks and progress: the display names trials as the callback numbers them."""
    return {"callbacks": [callback], "progress": Tracked(progress, callback)}


def start_study(
    spec: StudySpec,
    tracking,
    *,
    storage: str | None = None,
    address: str | None = None,
    num_samples: int | None = None,
    max_concurrent: int | None = None,
    progress=None,
    baselines: bool = True,
):
    """Run a new study; refuse a name that the store already holds.

    Under the study's lock, the parent run is created (with the spec) before Ray writes
    anything, so every later crash leaves a study that ``resume`` finds and can explain.
    ``baselines``: score the task's reference baselines on the driver first and log them on
    the parent run (:func:`_log_baselines`), once per study.
    """
    spec = spec.with_search_seed()
    refuse_lockstep(spec, num_samples, max_concurrent)
    with study_lock(tracking, spec.name) as lease:
        ensure_new_study(spec, tracking, lock_held=True)
        storage = resolve_storage(storage)
        refuse_orphan_ray_state(spec.name, storage)
        warm = warm_start_from(spec, tracking)
        study_id = uuid.uuid4().hex[:16]
        planned = {TAG_PLANNED_TRIALS: str(trial_count(spec, num_samples)), **(warm.tags() if warm else {})}
        lease_tags = lease.tags() if lease is not None else {}
        parent_run_id = create_study_run(tracking, spec, study_id, {**_parent_run_tags(spec, storage), **planned, **lease_tags})
        if lease is not None:
            lease.attach(parent_run_id)
        crash_points.reached(crash_points.AFTER_PARENT_RUN)
        _log_data_summary(tracking, spec, parent_run_id)
        if baselines:
            _log_baselines(tracking, spec, parent_run_id)
        tracked = _tracked(_callback(tracking, spec, study_id, storage, address), progress)
        if warm is not None:
            tracked["progress"].on_notice(warm.line())
        return run_study(
            spec,
            train_trial,
            storage=storage,
            **tracked,
            address=address,
            num_samples=num_samples,
            max_concurrent=max_concurrent,
            study_id=study_id,
            points_to_evaluate=warm.points if warm else None,
            evaluated_rewards=warm.rewards if warm else None,
            after_fit=_held_out(tracking, spec, study_id),
        )


def _held_out(tracking, spec: StudySpec, study_id: str):
    """The closing work of a completed run: the held-out test scores (:mod:`tfcli.study.held_out`)."""
    return lambda: score_on_test(tracking, spec, study_id)


def _log_data_summary(tracking, spec: StudySpec, run_id: str) -> None:
    """The examples per split and the leakage between train and valid/test of a study on data
    files (:func:`tfcli.data.profile.leakage_summary`), on the parent run: ``report`` warns of a leak."""
    if isinstance(spec.task.data, DataFiles):
        log_data_summary(tracking, run_id, leakage_summary(read_data(spec.task.type, data_source(spec), spec.data)))


def _log_baselines(tracking, spec: StudySpec, run_id: str) -> None:
    """The floor the trials must clear (see :mod:`tfcli.baselines`), on the parent run."""
    log_baselines(tracking, run_id, compute_baselines(spec, load_splits(spec)))


class NothingToResume(Exception):
    """The study has ended: every planned trial finished. ``str(err)`` says so and what next."""


def resume_study(
    name: str,
    tracking,
    *,
    address: str | None = None,
    storage: str | None = None,
    retry_failed: bool = False,
    rebuild: bool = False,
    progress=None,
):
    """Continue an interrupted study: finished trials are kept, unfinished ones resume.

    Before Tune is asked, Ray's saved state is checked against MLflow's records
    (:func:`~tfcli.study.ray_state.ray_state_problem`): a missing or damaged state, or one
    older than the records, is refused with what was found; ``rebuild`` then runs the study's
    unfinished and never-started trials as a new Tune experiment built from the records
    (:func:`_rebuild`). Raises :class:`NothingToResume` for a study that has ended.
    """
    with study_lock(tracking, name):
        stored = load_stored_study(tracking, name)
        notice = drift_notice(stored.spec)
        if notice:
            log.warning(notice)
        storage = resolve_storage(storage or stored.storage)
        records = trial_records(tracking, name, history=False)
        confirmations = confirmation_records(tracking, name)
        if not retry_failed and not rebuild:
            _refuse_ended(stored, [*records, *(c.record for c in confirmations)])
        experiment = _latest_experiment(name, storage)
        finished_ids = {r.trial_id for r in records if r.state.is_final}
        for line in restore_torn_state(experiment_path(experiment, storage)):
            log.warning(line)
        problem = ray_state_problem(experiment_path(experiment, storage), finished_ids)
        if problem is None and rebuild:
            raise StudyError(
                f"study {name!r} has a sound Ray state; resume it with `tfcli study resume {name}` (--rebuild is for a lost or damaged one)"
            )
        if problem is not None and not rebuild:
            raise StudyError(
                f"study {name!r} cannot resume from Ray's state: {problem}. MLflow holds {_count_text(records)}; "
                f"`tfcli study resume {name} --rebuild` runs the unfinished and never-started trials again from those "
                "records (finished trials are kept)"
            )
        if rebuild:
            return _rebuild(stored, tracking, records, storage=storage, address=address, progress=progress)
        _supersede_orphans(tracking, records, experiment_path(experiment, storage))
        for line in drop_gone_checkpoints(experiment_path(experiment, storage)):
            log.warning(line)
        return run_study(
            stored.spec,
            train_trial,
            storage=storage,
            **_tracked(_callback(tracking, stored.spec, stored.study_id, storage, address, stored_plan(stored.tags)), progress),
            address=address,
            study_id=stored.study_id,
            resume=True,
            name=experiment,
            retry_failed=retry_failed,
            after_fit=_held_out(tracking, stored.spec, stored.study_id),
        )


def _supersede_orphans(tracking, records, path: str) -> None:
    unfinished = {r.trial_id: r.run_id for r in records if not r.state.is_final}
    orphans = orphan_trial_ids(path, set(unfinished))
    supersede_runs(tracking, [unfinished[t] for t in sorted(orphans)], "Ray's saved state never held this trial")


def _count_text(records) -> str:
    finished = sum(1 for r in records if r.state.is_final)
    return f"{finished} finished and {len(records) - finished} unfinished trial run(s)"


def _refuse_ended(stored: StoredStudy, records) -> None:
    if TrialStatus.from_mlflow(stored.record.status) is TrialStatus.FINISHED and records and all(r.state.is_final for r in records):
        raise NothingToResume(
            f"study {stored.spec.name!r} has ended ({len(records)} trials); nothing to resume. "
            f"Add trials with `tfcli study extend {stored.spec.name} --num-samples N`"
        )


def planned_trials(stored: StoredStudy, known: int = 0) -> int:
    """How many trials the study is to run in all: its start's and its extensions'.

    A study started before the count was recorded (no ``tfcli.planned_trials`` tag) owes its
    study file's trials, or the ``known`` trial runs when there are more (its extensions).
    """

    value = stored.tags.get(TAG_PLANNED_TRIALS, "")
    return int(value) if value.isdigit() else max(trial_count(stored.spec), known)


def _rebuild(stored: StoredStudy, tracking, records, *, storage: str, address: str | None, progress):
    """Run what the study still owes as a new Tune experiment, from MLflow's records.

    Finished trials are kept and warm-start the searcher. The unfinished trials' runs are
    marked superseded and deleted (MLflow keeps deleted runs: ``mlflow runs restore``), and
    their configurations run first, from scratch: Ray's lost state held their checkpoints.
    Grid search runs the grid points that no finished trial covers.
    """
    from tfcli.study.space import rebuild_configs

    spec = stored.spec
    finished = [r for r in records if r.state.is_final]
    unfinished = [r for r in records if not r.state.is_final]
    remaining = max(planned_trials(stored, len(records)) - len(finished), len(unfinished))
    if remaining == 0:
        tracking.client().set_terminated(stored.record.run_id, TrialStatus.FINISHED.value)
        raise NothingToResume(
            f"study {spec.name!r} has run all its {len(finished)} trials (only Ray's state was lost); nothing to resume. "
            f"Add trials with `tfcli study extend {spec.name} --num-samples N`"
        )
    rerun = rebuild_configs(spec, [dict(r.config) for r in finished], [dict(r.config) for r in unfinished], remaining)
    points, rewards = searcher_points(finished, spec)
    experiment = _next_experiment(spec.name, storage)
    supersede_runs(tracking, [r.run_id for r in unfinished], f"rebuilt as Tune experiment {experiment}")
    return _run_more(
        stored, tracking, storage=storage, address=address, experiment=experiment, progress=progress,
        num_samples=remaining, points_to_evaluate=points or None, evaluated_rewards=rewards or None, rerun=rerun,
    )


def _run_more(stored: StoredStudy, tracking, *, storage: str, address, experiment: str, progress, plan=None, **search):
    """A new Tune experiment ``experiment`` under the study's parent run: what ``extend``,
    ``resume --rebuild`` and ``confirm`` run (``search``: see :func:`~tfcli.study.runner.run_study`)."""
    return run_study(
        stored.spec,
        train_trial,
        storage=storage,
        **_tracked(_callback(tracking, stored.spec, stored.study_id, storage, address, plan or stored_plan(stored.tags)), progress),
        address=address,
        study_id=stored.study_id,
        name=experiment,
        after_fit=_held_out(tracking, stored.spec, stored.study_id),
        **search,
    )


def _next_experiment(name: str, storage: str) -> str:
    return f"{name}-ext{len(extension_names(name, storage)) + 1}"


def extension_names(name: str, storage: str) -> list[str]:
    prefix = f"{name}-ext"
    found = [n for n in experiment_names(storage) if n.startswith(prefix) and n[len(prefix) :].isdigit()]
    return sorted(found, key=lambda n: int(n[len(name) + 4 :]))


def _latest_experiment(name: str, storage: str) -> str:
    extensions = extension_names(name, storage)
    return extensions[-1] if extensions else name


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
    with study_lock(tracking, name):
        stored = load_stored_study(tracking, name)
        refuse_lockstep(stored.spec, num_samples, max_concurrent)
        storage = resolve_storage(storage or stored.storage)
        records = trial_records(tracking, name, history=False)
        unfinished = [r for r in records if not r.state.is_final]
        if unfinished:
            raise StudyError(
                f"study {name!r} has {len(unfinished)} unfinished trial(s); finish them with `tfcli study resume {name}` before extending it"
            )
        points, rewards = searcher_points(records, stored.spec)
        warm = warm_start_from(stored.spec, tracking)
        if warm is not None:
            points, rewards = [*points, *warm.points], [*rewards, *warm.rewards]
        experiment = _next_experiment(name, storage)
        planned = planned_trials(stored, len(records)) + trial_count(stored.spec, num_samples)
        tracking.client().set_tag(stored.record.run_id, TAG_PLANNED_TRIALS, str(planned))
        outcome = _run_more(
            stored, tracking, storage=storage, address=address, experiment=experiment, progress=progress,
            num_samples=num_samples, max_concurrent=max_concurrent,
            points_to_evaluate=points or None, evaluated_rewards=rewards or None, earlier=records,
        )
    return outcome, len(points)


def confirm_study(
    name: str,
    tracking,
    *,
    top: int,
    seeds: int,
    address: str | None = None,
    storage: str | None = None,
    max_concurrent: int | None = None,
    progress=None,
):
    """Retrain the ``top`` best trials' configurations with ``seeds`` fresh seeds each.

    The runs are children of the study's parent run with the role ``confirmation``, run as a
    Tune experiment ``NAME-extK`` of fixed configurations (no searcher, no early stopping),
    so ``resume`` continues an interrupted confirmation like any other part of the study.
    Running ``confirm`` again adds only what no confirmation run covers yet; while one is
    unfinished it says to resume instead. Returns the outcome and how many runs it started.
    """
    with study_lock(tracking, name):
        stored = load_stored_study(tracking, name)
        notice = drift_notice(stored.spec)
        if notice:
            log.warning(notice)
        storage = resolve_storage(storage or stored.storage)
        records = trial_records(tracking, name, history=False)
        confirmations = confirmation_records(tracking, name)
        unfinished = [c for c in confirmations if not c.record.state.is_final]
        if unfinished:
            raise StudyError(
                f"study {name!r} has {len(unfinished)} unfinished confirmation run(s); finish them with "
                f"`tfcli study resume {name}` before confirming more"
            )
        plan = merge_plans(stored_plan(stored.tags), plan_confirmations(stored.spec, records, top=top, seeds=seeds))
        todo = owed(plan, confirmations)
        if not todo:
            raise NothingToResume(
                f"study {name!r} already has these {len(plan)} confirmation runs; see them with `tfcli report {name}`"
            )
        text = json.dumps(plan, sort_keys=True)
        if len(text) > 8000:
            raise StudyError(f"a study holds at most about 40 confirmation runs, but this plan has {len(plan)}; use fewer --top or --seeds")
        tracking.client().set_tag(stored.record.run_id, TAG_CONFIRM_PLAN, text)
        outcome = _run_more(
            stored, tracking, storage=storage, address=address, experiment=_next_experiment(name, storage), progress=progress,
            plan=plan, max_concurrent=max_concurrent, fixed_configs=[entry["config"] for entry in todo],
        )
    return outcome, len(todo)


def score_held_out(name: str, tracking, *, address: str | None = None, top: int | None = None) -> list[str]:
    """Score the study's top trials (``top``, default ``report.test_top``, at least 1) and its
    confirmation runs on the test split now (``tfcli report NAME --test``); what could not
    be scored, one line each. Runs that have their test score are skipped."""
    with study_lock(tracking, name):
        stored = load_stored_study(tracking, name)
        started = connect(address)
        try:
            return score_on_test(tracking, stored.spec, stored.study_id, top=top or max(stored.spec.report.test_top, 1))
        finally:
            if started:
                disconnect()

