"""Running a study on Ray Tune: start, resume and extend it, and say how it went.

The contract with the trainable (``tfcli.train.trainable``):

- ``run_study`` calls it as ``trainable(config, study)`` on a Ray worker. ``config`` holds
  the sampled values by dotted path (``{"train.lr": 0.001, "model.d_model": 64}``);
  ``study`` is :func:`~tfcli.spec.trial.study_payload`: the StudySpec as JSON plus
  the study file's folder, passed with ``tune.with_parameters`` (so it travels once through
  the object store, also to other nodes). :func:`~tfcli.spec.trial.spec_from_payload`
  turns it back into a StudySpec, and ``spec.with_overrides(config)`` gives the trial's own
  spec.
- At every evaluation it calls ``tune.report(metrics, checkpoint=...)``; ``metrics`` holds
  ``"step"`` and the objective metric, and the last report comes at the last step.
  On a restart it resumes from ``tune.get_checkpoint()``.
- Divergence and out-of-memory are not retried. Ray retries any exception up to
  ``budget.max_failures`` times and has no per-error policy (``FailureConfig`` only has
  ``max_failures`` and ``fail_fast``), so the worker-side wrapper
  :func:`~tfcli.study.trial_wrapper.trial` catches :class:`~tfcli.errors.DivergedError`,
  ``MemoryError`` and CUDA out-of-memory errors and ends the trial normally with one last
  report that carries :data:`~tfcli.study.trial_wrapper.FAILURE_KEY` (``"diverged"`` or
  ``"out_of_memory"``), :data:`~tfcli.study.trial_wrapper.FAILURE_MESSAGE_KEY`, the last
  ``step`` and the worst possible objective (``-inf`` when maximising, ``inf`` when
  minimising), so searchers learn to avoid the region and schedulers drop it. Ray records
  the trial as TERMINATED; :class:`~tfcli.study.outcome.StudyOutcome` counts it as failed
  and so should the tracking callback (look for ``FAILURE_KEY`` in the result). Other
  exceptions propagate: Ray retries them from the last checkpoint and then marks the trial
  ERROR.

Interruption: Ray Tune handles SIGINT in ``fit()`` (main thread only): it stops starting
trials, saves the experiment state, stops the running trials and returns, in about 3 s
here; a second SIGINT skips the saving. Trials that were running are saved as RUNNING, so
``resume=True`` continues them from the last checkpoint the driver had registered and does
not run finished ones again. A driver killed outright (SIGKILL, a lost machine) resumes
the same way from the state saved at its last checkpoint or every
:data:`CHECKPOINT_PERIOD_S`. ``run_study`` notices the signal
(``StudyOutcome.interrupted``) and restores the previous SIGINT handler afterwards.

Callbacks (the MLflow one) run on the driver and need not pickle (see
:func:`_attach_callbacks`). Tune calls ``on_trial_complete`` for trials that end by
themselves or by the scheduler, ``on_trial_error`` for errored ones, and nothing for
trials its time budget stops or a Ctrl-C leaves unfinished: ``on_experiment_end`` is the
place to settle those.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import random
import signal
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator, Sequence

from tfcli import crash_points
from tfcli.cluster.checks import preflight
from tfcli.cluster.connect import connect, disconnect
from tfcli.cluster.signals import connect_shielded, sigterm_as_interrupt
from tfcli.errors import StudyError
from tfcli.records import TrialRecord
from tfcli.spec.schema import StudySpec
from tfcli.spec.trial import study_payload
from tfcli.study.disk_full import disk_guard
from tfcli.study.hyperband import settled
from tfcli.study.outcome import StudyOutcome, _summaries
from tfcli.study.ray_internals import set_tuner_callbacks, set_tuner_stopper
from tfcli.study.storage import experiment_path, resolve_storage
from tfcli.study.trial_wrapper import trial
from tfcli.study.waiting import notice_callback
from tfcli.study.watch import Progress, _watch_class

#: Seconds between experiment-state saves (Tune's default is at least 10). A driver killed
#: without warning re-runs at most the work of this window on resume.
CHECKPOINT_PERIOD_S = 3


class _QuietTune(logging.Filter):
    """Drops Tune's end-of-run notes that StudyOutcome reports instead (errored trials;
    an interruption, with Python resume advice that does not apply to the CLI)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not message.startswith(("Trials did not complete", "Experiment has been interrupted"))


@contextmanager
def _study_environment(spec: StudySpec) -> Iterator[None]:
    """Settings Tune reads from the environment, for the duration of ``fit()``."""

    settings = {
        "TUNE_GLOBAL_CHECKPOINT_S": str(CHECKPOINT_PERIOD_S),
        # Trial tracebacks go to the trial folders and the outcome, not over a live display.
        "TUNE_PRINT_ALL_TRIAL_ERRORS": "0",
        # Tune's newer console output prints paths even at verbose=0; the legacy one is silent.
        "RAY_AIR_NEW_OUTPUT": "0",
        # Every checkpoint forces a state save (num_to_keep is set), which Tune warns about;
        # for trials that evaluate every few minutes that is cheap and makes resume exact.
        "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
        # run_study adds the JSON and CSV loggers itself: no TensorBoard files (MLflow is the
        # UI), and tensorboardX prints a line for every infinite value (failure reports).
        "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
    }
    saved = {k: os.environ.get(k) for k in settings}
    for key, value in settings.items():
        os.environ.setdefault(key, value)
    if spec.scheduler.type == "pbt" and spec.search.seed is not None:
        random.seed(spec.search.seed)  # PBT draws its perturbations from Python's random
    main = threading.current_thread() is threading.main_thread()
    handler = signal.getsignal(signal.SIGINT) if main else None
    tune_logger = logging.getLogger("ray.tune.tune")
    quiet = _QuietTune()
    tune_logger.addFilter(quiet)
    try:
        yield
    finally:
        tune_logger.removeFilter(quiet)
        if main and handler is not None:
            signal.signal(signal.SIGINT, handler)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _attach_callbacks(tuner, callbacks: list) -> None:
    """Give the Tuner its callbacks after construction.

    A Tuner pickles its RunConfig into ``tuner.pkl`` when built and ``Tuner.restore``
    brings back those pickled callbacks, so callbacks passed the public way must pickle and
    are stale on resume. Setting them on the (in-process) TunerInternal's RunConfig lets
    the MLflow callback and the live display hold clients, locks and consoles; Ray has no
    public way (see :mod:`tfcli.study.ray_internals`).
    """
    set_tuner_callbacks(tuner, callbacks)


def _build_trainable(trainable: Callable, spec: StudySpec, payload: dict):
    from ray import tune

    with_spec = tune.with_parameters(trial, target=trainable, study=payload)
    return tune.with_resources(with_spec, {"cpu": spec.resources.cpu, "gpu": spec.resources.gpu})


def _check_saved_state(exp_name: str, path: str, resume: bool) -> None:
    """Resume needs a saved experiment at ``path``; a new start needs none there."""
    from ray import tune

    exists = tune.Tuner.can_restore(path)
    if resume and not exists:
        raise StudyError(f"no study {exp_name!r} to resume: nothing saved at {path}")
    if not resume and exists:
        raise StudyError(
            f"study {exp_name!r} already has runs at {path}; resume it, extend it, or choose another name"
        )


def _preflight(address: str | None, storage_path: str) -> None:
    """On a cluster, check that every node can run the study before starting it."""
    if (address or os.environ.get("RAY_ADDRESS") or "local") != "local":
        preflight(storage_path)


def _restored_tuner(path: str, wrapped, retry_failed: bool):
    """The Tuner of the saved experiment at ``path`` (a folder or a URI, as given)."""
    from ray import tune

    return tune.Tuner.restore(path, trainable=wrapped, resume_unfinished=True, resume_errored=retry_failed)


def _run_config(spec: StudySpec, exp_name: str, storage_path: str):
    """Where and how Tune keeps the experiment; ``storage_path`` goes to Ray as given."""
    from ray import tune

    metric, mode = spec.primary_objective.metric, spec.primary_objective.mode
    return tune.RunConfig(
        name=exp_name,
        storage_path=storage_path,
        failure_config=tune.FailureConfig(max_failures=spec.budget.max_failures),
        checkpoint_config=tune.CheckpointConfig(
            # The best by the objective (Tune also keeps the latest). PBT keeps
            # them all: it restores a trial from another trial's checkpoint some
            # time after choosing it, and Tune may have deleted it by then.
            num_to_keep=None if spec.scheduler.type == "pbt" else 1,
            checkpoint_score_attribute=metric,
            checkpoint_score_order=mode,
        ),
        verbose=0,
        log_to_file=True,  # trial stdout/stderr go to files in the trial folder
    )


def _fixed_search(configs: list[dict], max_concurrent: int | None, spec: StudySpec):
    """Run exactly ``configs`` (``study confirm``), each to the end: no searcher, no early stop."""
    from ray.tune.schedulers import FIFOScheduler
    from ray.tune.search.basic_variant import BasicVariantGenerator

    limit = max_concurrent if max_concurrent is not None else spec.search.max_concurrent
    return BasicVariantGenerator(points_to_evaluate=[dict(c) for c in configs], max_concurrent=limit or 0), FIFOScheduler()


def _fixed_space(configs: list[dict]) -> dict:
    """A parameter space that holds every value of the fixed configurations, which Tune
    requires of preset points (a key it does not know, such as ``train.seed``, is refused)."""
    from ray import tune

    values: dict[str, list] = {}
    for config in configs:
        for key, value in config.items():
            if value not in values.setdefault(key, []):
                values[key].append(value)
    return {key: tune.choice(options) for key, options in values.items()}


def _tune_config(spec: StudySpec, *, num_samples, max_concurrent, points_to_evaluate, evaluated_rewards, rerun, fixed_configs=None, initial=True):
    """The search: searcher (warm-started by ``extend``), scheduler, samples, time budget."""
    from ray import tune

    from tfcli.study.space import make_scheduler, make_searcher

    # Tune's metric is what its scheduler acts on; the searcher takes every objective itself.
    metric, mode = spec.scheduler_objective.metric, spec.scheduler_objective.mode
    if fixed_configs:
        search_alg, scheduler = _fixed_search(fixed_configs, max_concurrent, spec)
        return tune.TuneConfig(
            metric=metric, mode=mode, search_alg=search_alg, scheduler=scheduler, num_samples=len(fixed_configs), reuse_actors=True
        )
    return tune.TuneConfig(
        metric=metric,
        mode=mode,
        search_alg=make_searcher(
            spec,
            points_to_evaluate=points_to_evaluate,
            evaluated_rewards=evaluated_rewards,
            max_concurrent=max_concurrent,
            rerun=rerun,
            initial=initial,
        ),
        scheduler=settled(make_scheduler(spec)),
        num_samples=num_samples or spec.search.num_samples,
        time_budget_s=spec.budget.time_seconds,
        # A new trial reuses a finished trial's worker process: torch, tfcli and
        # the cached data stay imported, which saves seconds per trial.
        reuse_actors=True,
    )


def _new_tuner(wrapped, spec: StudySpec, exp_name: str, storage_path: str, **search):
    """A Tuner for a new experiment ``storage_path/exp_name``; ``search``: see :func:`_tune_config`."""
    from ray import tune

    from tfcli.study.space import tuner_param_space

    space = tuner_param_space(spec)
    if search.get("fixed_configs"):
        space = {**space, **_fixed_space(search["fixed_configs"])}
    return tune.Tuner(
        wrapped,
        param_space=space,
        tune_config=_tune_config(spec, **search),
        run_config=_run_config(spec, exp_name, storage_path),
    )


class _InterruptGuard:
    """The driver's SIGINT handler for the whole of a study (installed by :func:`run_study`).

    Tune installs its own handler in ``fit()`` and, at the first Ctrl-C, puts back the one it
    found: this one. Before and during ``fit()`` a Ctrl-C here raises KeyboardInterrupt (during
    ``fit()`` that is Tune's "second Ctrl-C": it gives up at once); one that comes after
    ``fit()`` returned (while the runs are settled, the outcome is read, Ray shuts down) is
    ignored, so the study always ends by settling MLflow and saying how to resume.
    """

    def __init__(self) -> None:
        self.fitted = False
        self.interruptible = False  # closing work that may stop at a Ctrl-C (the test scores)
        self.ignored = 0
        self._previous = None
        self._main = threading.current_thread() is threading.main_thread()

    def __enter__(self) -> "_InterruptGuard":
        if self._main:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> bool:
        if self._main:
            signal.signal(signal.SIGINT, self._previous)
        return False

    def _handle(self, signum, frame) -> None:
        if not self.fitted or self.interruptible:
            raise KeyboardInterrupt
        self.ignored += 1


def _fit(tuner, spec: StudySpec, callbacks: list, progress, exp_name: str, path: str, guard: _InterruptGuard, stopper=None) -> StudyOutcome:
    """Run the Tuner with the callbacks, the live display and the study's stopper
    (:mod:`tfcli.study.stopping`), and summarise how it went."""
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

    metric, mode = spec.primary_objective.metric, spec.primary_objective.mode
    watch = _watch_class()(progress, spec.train.max_steps)
    attached = [*callbacks, JsonLoggerCallback(), CSVLoggerCallback(), watch, notice_callback(progress)]
    if stopper is not None:
        attached = [*_stopping_callbacks(stopper, attached, watch), *attached]
        set_tuner_stopper(tuner, stopper)
    _attach_callbacks(tuner, attached)
    start = time.monotonic()
    interrupted_twice = False
    with _study_environment(spec):
        try:
            tuner.fit()
        except KeyboardInterrupt:
            interrupted_twice = True
        finally:
            guard.fitted = True
    if interrupted_twice:
        _settle_after_second_interrupt(callbacks)
    elapsed = time.monotonic() - start
    trials = _summaries(spec, path, metric, mode, watch)
    watch.settle(trials)
    return StudyOutcome(
        name=exp_name,
        experiment_path=path,
        metric=metric,
        mode=mode,
        trials=trials,
        interrupted=watch.interrupted or interrupted_twice,
        elapsed_s=elapsed,
        lost_work=[line for cb in callbacks for line in getattr(cb, "lost_work", [])],
        stopped_early=watch.study_stop_note,
    )


def _stopping_callbacks(stopper, callbacks: list, watch) -> list:
    """Wire the study's stopper: the callbacks that record the end of a study learn why it ended
    (``study_stopped(reason, note)``), trials are named as the views name them, and the
    stopper hears of every trial's end (first, so patience counts before anything reads it)."""
    from tfcli.study.stopping import trial_end_callback

    stopper.listeners = [cb.study_stopped for cb in callbacks if hasattr(cb, "study_stopped")]
    stopper.label_of = lambda trial_id: watch.number_of(trial_id) if watch.number_of(trial_id) is not None else trial_id
    return [trial_end_callback(stopper)]


def _closing_work(after_fit: Callable[[], list[str]], guard: _InterruptGuard, name: str) -> list[str]:
    """``after_fit()``'s notes; a Ctrl-C stops it, which loses nothing (it resumes later)."""
    guard.interruptible = True
    try:
        return after_fit()
    except KeyboardInterrupt:
        return [f"scoring on the test split was interrupted; `tfcli report {name} --test` finishes it"]
    finally:
        guard.interruptible = False


def _settle_after_second_interrupt(callbacks: list) -> None:
    """A second Ctrl-C makes Tune give up at once, wherever it was, skipping
    ``on_experiment_end``: close what the callbacks left open (the MLflow runs become
    KILLED, so the study resumes); the :class:`_InterruptGuard` ignores further Ctrl-C."""
    for callback in callbacks:
        abandon = getattr(callback, "abandon", None)
        if abandon is not None:
            abandon()


def run_study(
    spec: StudySpec,
    trainable: Callable[[dict, dict], None],
    *,
    storage: str | None,
    callbacks: list,
    address: str | None = None,
    num_samples: int | None = None,
    max_concurrent: int | None = None,
    study_id: str,
    resume: bool = False,
    points_to_evaluate: list[dict] | None = None,
    evaluated_rewards: list[float] | None = None,
    progress: Progress | None = None,
    name: str | None = None,
    retry_failed: bool = False,
    rerun: list[dict] | None = None,
    fixed_configs: list[dict] | None = None,
    after_fit: Callable[[], list[str]] | None = None,
    earlier: Sequence[TrialRecord] = (),
) -> StudyOutcome:
    """Run (or, with ``resume``, continue) the study ``spec`` as a Tune experiment.

    ``trainable(config, study)``: see the module docstring. ``storage``: Ray's storage, a
    folder or a URI (see :func:`~tfcli.study.storage.resolve_storage`); the experiment lives
    at ``storage/name``. ``name`` defaults to ``spec.name``; ``extend`` passes
    ``<study>-ext<k>`` with the earlier trials' configs as ``points_to_evaluate`` and their
    objective values as ``evaluated_rewards`` (see :func:`tfcli.study.space.make_searcher`);
    ``resume --rebuild`` passes ``rerun``, the configurations to run first; ``study confirm``
    passes ``fixed_configs``, the only configurations to run, each to its last step.
    ``after_fit()``: closing work done on the same Ray when the experiment completed (the
    held-out test scores); it returns notes for the outcome.
    ``earlier``: the study's trials before this experiment (``extend``), for ``budget.target``
    and ``budget.patience`` (:mod:`tfcli.study.stopping`).
    ``callbacks``: Tune callbacks (the MLflow one) run on the driver; they need not pickle.
    ``num_samples`` / ``max_concurrent`` override the study file.

    ``resume``: continue the interrupted experiment ``storage/name``: unfinished trials
    resume from their checkpoints, finished ones are kept, errored ones stay errored unless
    ``retry_failed`` (then they resume from their last checkpoint). The experiment keeps
    the settings it started with (samples, searcher state, time budget left).

    Ray: the one already initialised, else the cluster at ``address``, else an embedded
    local Ray that is shut down on return. Call from the main thread for Ctrl-C handling.
    Raises StudyError (no such experiment to resume, or one already there to start) and
    ClusterError (cluster unreachable).
    """
    exp_name = name or spec.name
    storage_path = resolve_storage(storage)
    path = experiment_path(exp_name, storage_path)
    _check_saved_state(exp_name, path, resume)
    guard = _InterruptGuard()
    with guard, sigterm_as_interrupt():
        return _connected_run(
            spec, trainable, guard, address=address, storage_path=storage_path, path=path, exp_name=exp_name,
            study_id=study_id, resume=resume, retry_failed=retry_failed, callbacks=callbacks, progress=progress,
            after_fit=after_fit, earlier=earlier, num_samples=num_samples, max_concurrent=max_concurrent,
            points_to_evaluate=points_to_evaluate, evaluated_rewards=evaluated_rewards, rerun=rerun, fixed_configs=fixed_configs,
        )


def _connected_run(
    spec: StudySpec, trainable, guard: _InterruptGuard, *, address, storage_path, path, exp_name, study_id, resume,
    retry_failed, callbacks, progress, after_fit, earlier, **search,
) -> StudyOutcome:
    """:func:`run_study` once the experiment is located: on Ray, from connecting to shutting down."""
    started = connect_shielded(lambda: connect(address))
    disk = disk_guard(storage_path, callbacks, spec.name)
    try:
        _preflight(address, storage_path)
        payload = study_payload(spec, study_id=study_id, experiment=exp_name)
        wrapped = _build_trainable(trainable, spec, payload)
        if resume:
            tuner = _restored_tuner(path, wrapped, retry_failed)
        else:
            # search.initial runs only in the study's first experiment, not in extensions or rebuilds.
            tuner = _new_tuner(wrapped, spec, exp_name, storage_path, initial=exp_name == spec.name and not search.get("rerun"), **search)
            crash_points.reached(crash_points.AFTER_TUNER_SAVED)
        from tfcli.study.stopping import study_stopper  # imports Ray

        # study confirm runs its fixed configurations to the end: no target, no patience.
        stopper = None if search.get("fixed_configs") else study_stopper(spec, earlier)
        outcome = _fit(tuner, spec, [*callbacks, disk], progress, exp_name, path, guard, stopper)
        disk.raise_if_stopped(outcome.lost_work)
        if after_fit is not None and not outcome.resumable and not outcome.lost_work:
            outcome = dataclasses.replace(outcome, notes=[*outcome.notes, *_closing_work(after_fit, guard, spec.name)])
        return outcome
    finally:
        disk.close()
        if started:
            disconnect()
