"""Running a study on Ray Tune: start, resume and extend it, and say how it went.

The contract with the trainable (``tfcli.train.trainable``):

- ``run_study`` calls it as ``trainable(config, study)`` on a Ray worker. ``config`` holds
  the sampled values by dotted path (``{"train.lr": 0.001, "model.d_model": 64}``);
  ``study`` is :func:`study_payload`: the StudySpec as JSON plus the study file's folder,
  passed with ``tune.with_parameters`` (so it travels once through the object store, also
  to other nodes). :func:`spec_from_payload` turns it back into a StudySpec, and
  ``spec.with_overrides(config)`` gives the trial's own spec.
- At every evaluation it calls ``tune.report(metrics, checkpoint=...)``; ``metrics`` holds
  ``"step"`` and the objective metric, and the last report comes at the last step.
  On a restart it resumes from ``tune.get_checkpoint()``.
- Divergence and out-of-memory are not retried. Ray retries any exception up to
  ``budget.max_failures`` times and has no per-error policy (``FailureConfig`` only has
  ``max_failures`` and ``fail_fast``), so the worker-side wrapper :func:`trial` catches
  :class:`~tfcli.errors.DivergedError`, ``MemoryError`` and CUDA out-of-memory errors and
  ends the trial normally with one last report that carries :data:`FAILURE_KEY`
  (``"diverged"`` or ``"out_of_memory"``), :data:`FAILURE_MESSAGE_KEY`, the last ``step``
  and the worst possible objective (``-inf`` when maximising, ``inf`` when minimising),
  so searchers learn to avoid the region and schedulers drop it. Ray records the trial as
  TERMINATED; :class:`StudyOutcome` counts it as failed and so should the tracking callback
  (look for ``FAILURE_KEY`` in the result). Other exceptions propagate: Ray retries them
  from the last checkpoint and then marks the trial ERROR.

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

import logging
import math
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

from tfcli.errors import ClusterError, DivergedError, StudyError
from tfcli.study.spec import StudySpec

logger = logging.getLogger(__name__)

#: Result key of a trial's last report when it failed in a way that must not be retried.
FAILURE_KEY = "tfcli_failure"
#: Result key with the failure's one-line message.
FAILURE_MESSAGE_KEY = "tfcli_failure_message"

#: Seconds between experiment-state saves (Tune's default is at least 10). A driver killed
#: without warning re-runs at most the work of this window on resume.
CHECKPOINT_PERIOD_S = 3
#: Seconds to wait for a Ray cluster to answer before giving up.
CONNECT_TIMEOUT_S = 20


class TrialState:
    """What ``Progress.on_trial_state`` and ``TrialSummary.status`` report."""

    RUNNING = "running"
    RETRYING = "retrying"  # failed, restarting from its last checkpoint
    FINISHED = "finished"  # trained to the end
    STOPPED = "stopped"  # stopped early by the scheduler (ASHA, HyperBand) or the time budget
    FAILED = "failed"  # diverged or ran out of memory; not retried
    ERRORED = "errored"  # raised, and used up its retries
    UNFINISHED = "unfinished"  # pending or running when the study was interrupted


class Progress(Protocol):
    """Hooks for a live display; ``run_study`` calls them on the driver, between steps."""

    def on_result(self, trial_id: str, result: dict) -> None: ...

    def on_trial_state(self, trial_id: str, state: str) -> None: ...


# --- paths and payload ----------------------------------------------------------------------


def default_storage() -> str:
    """Where Ray keeps studies unless told otherwise: ``./mlruns/ray``, made absolute."""
    return str(Path("mlruns", "ray").resolve())


def _storage_root(storage: str | None) -> str:
    """An absolute folder, or a URI (``s3://...``, needed for multi-node clusters) as given."""
    if storage and "://" in storage:
        return storage.rstrip("/")
    return str(Path(storage or default_storage()).expanduser().resolve())


def experiment_path(name: str, storage: str | None = None) -> str:
    """The Tune experiment folder of a study: what resume needs."""
    return f"{_storage_root(storage)}/{name}"


def study_payload(spec: StudySpec, *, study_id: str | None = None, experiment: str | None = None) -> dict[str, Any]:
    """What the trainable receives as ``study``: plain JSON data."""
    return {
        "spec": spec.model_dump(mode="json"),
        "base_dir": spec._base_dir,
        "source_file": spec._source_file,
        "study_id": study_id,
        "experiment": experiment or spec.name,
    }


def spec_from_payload(payload: dict[str, Any]) -> StudySpec:
    """The StudySpec of :func:`study_payload`, with its base folder for relative data paths."""
    spec = StudySpec.model_validate(payload["spec"])
    spec._base_dir = payload.get("base_dir")
    spec._source_file = payload.get("source_file")
    return spec


# --- worker side ----------------------------------------------------------------------------


def _failure_kind(err: BaseException) -> str | None:
    """``"diverged"`` or ``"out_of_memory"`` for errors a retry cannot fix, else None."""
    if isinstance(err, DivergedError):
        return "diverged"
    if isinstance(err, MemoryError):
        return "out_of_memory"
    if any(cls.__name__ == "OutOfMemoryError" for cls in type(err).__mro__):  # torch.cuda / torch
        return "out_of_memory"
    if isinstance(err, RuntimeError) and "out of memory" in str(err).lower():  # older torch, MPS
        return "out_of_memory"
    return None


def _watch_reported_step() -> dict[str, Any]:
    """Remember the ``step`` of this trial's latest ``tune.report``.

    ``tune.report`` goes through the worker's session object; wrapping that one object's
    ``report`` sees every report of this trial and nothing else.
    """
    seen: dict[str, Any] = {}
    try:
        from ray.train._internal.session import get_session

        session = get_session()
        original = session.report
    except Exception:  # a Ray without this internal: the failure report then has no step
        return seen

    def report(metrics, checkpoint=None):
        if isinstance(metrics, dict) and "step" in metrics:
            seen["step"] = metrics["step"]
        return original(metrics, checkpoint=checkpoint)

    session.report = report
    return seen


def trial(config: dict[str, Any], target: Callable, study: dict[str, Any]) -> None:
    """The function Ray runs for each trial: the trainable, with the no-retry policy.

    See the module docstring. Named plainly because Tune names trials after it.
    """
    from ray import tune

    seen = _watch_reported_step()
    try:
        target(config, study)
    except Exception as err:
        kind = _failure_kind(err)
        if kind is None:
            raise
        objective = study["spec"]["objective"]
        worst = -math.inf if objective["mode"] == "max" else math.inf
        message = f"{type(err).__name__}: {err}".splitlines()[0][:500]
        tune.report(
            {
                "step": seen.get("step", 0),
                objective["metric"]: worst,
                FAILURE_KEY: kind,
                FAILURE_MESSAGE_KEY: message,
            }
        )


# --- connecting -----------------------------------------------------------------------------


def _split_address(address: str) -> tuple[str, int] | None:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        return None
    return host.strip("[]") or "127.0.0.1", int(port)


def _probe_cluster(address: str) -> None:
    """Fail fast, in one line, when nothing answers at ``address``.

    ``ray.init(address=...)`` waits minutes for an address where no Ray cluster answers
    (measured on Ray 2.60: over 80 s for a closed or foreign port, and no setting shortens
    it safely), so: a TCP connect first, then a trial connection in a subprocess that is
    killed after :data:`CONNECT_TIMEOUT_S`.
    """
    hostport = _split_address(address)
    if hostport is not None:
        try:
            socket.create_connection(hostport, timeout=5).close()
        except OSError as err:
            reason = err.strerror or type(err).__name__
            raise ClusterError(
                f"cannot reach a Ray cluster at {address}: {reason.lower()}; "
                "start one with `ray start --head` or check --address (HOST:6379)"
            ) from None
    code = "import ray, sys; ray.init(address=sys.argv[1], log_to_driver=False, logging_level='ERROR')"
    try:
        done = subprocess.run(
            [sys.executable, "-c", code, address],
            capture_output=True,
            text=True,
            timeout=CONNECT_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as err:
        from tfcli.cluster.checks import auth_hint

        hint = auth_hint(address, err.stderr)
        if hint:
            raise ClusterError(hint) from None
        raise ClusterError(
            f"no Ray cluster answered at {address} within {CONNECT_TIMEOUT_S} s; "
            "check that --address names the head node's GCS port (default 6379)"
        ) from None
    if done.returncode != 0:
        from tfcli.cluster.checks import auth_hint

        hint = auth_hint(address, done.stderr)
        if hint:
            raise ClusterError(hint)
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if re.match(r"^[\w.]*(Error|Exception)\b", line)]
        last = (errors or lines or [f"exit code {done.returncode}"])[-1]
        raise ClusterError(f"cannot connect to the Ray cluster at {address}: {last[:300]}")


def connect(address: str | None = None) -> bool:
    """Make sure Ray runs; True when this call started or joined it (and should shut it down).

    Already initialised: use that. ``address`` None or ``"local"``: an embedded Ray with all
    CPUs of this machine (``RAY_ADDRESS``, when set, counts as ``--address``). Otherwise join
    the cluster at ``address`` (``HOST:PORT`` or ``auto``), or raise ClusterError in one line
    within about 30 s.
    """
    import ray

    if address and address.startswith("ray://"):
        raise ClusterError(
            f"Ray Client addresses are not supported, but got --address {address}; "
            "give the head node's GCS address (HOST:6379) or use `tfcli cluster submit`"
        )
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or "local"
    if address == "local":
        # Ray 2.60 warns on every start that token authentication is on; for a Ray that
        # lives and dies with this process that is noise.
        quiet = logging.getLogger("ray._private.authentication.authentication_token_setup")
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            ray.init(
                address="local",
                num_cpus=os.cpu_count() or 1,
                include_dashboard=False,
                log_to_driver=False,
                ignore_reinit_error=True,
                logging_level=logging.WARNING,
            )
        finally:
            quiet.setLevel(level)
        return True
    if address.startswith("ray://"):  # from RAY_ADDRESS
        raise ClusterError(
            f"Ray Client addresses are not supported, but RAY_ADDRESS is {address}; "
            "give the head node's GCS address (HOST:6379) or use `tfcli cluster submit`"
        )
    _probe_cluster(address)
    from tfcli.cluster.checks import requested_runtime_env

    try:
        ray.init(address=address, runtime_env=requested_runtime_env(), log_to_driver=False, logging_level=logging.WARNING)
    except Exception as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ClusterError(f"cannot connect to the Ray cluster at {address}: {first}") from None
    return True


# --- driver side ----------------------------------------------------------------------------


_WATCH_CLASS = None


def _watch_class():
    """The driver-side Tune callback: forwards progress and notices SIGINT (built lazily)."""
    global _WATCH_CLASS
    if _WATCH_CLASS is not None:
        return _WATCH_CLASS
    from ray.tune import Callback

    class StudyWatch(Callback):
        def __init__(self, progress: Progress | None, max_steps: int):
            self.progress = progress
            self.max_steps = max_steps
            self.interrupted = False
            self.stopped_early: set[str] = set()
            self.completed: set[str] = set()
            self.started: set[str] = set()
            self.told: dict[str, str] = {}  # the last state told per trial
            self._warned = False

        def setup(self, **info):
            # tune.run installs its SIGINT handler before it sets up callbacks; wrap it to
            # learn that the run was interrupted. Ray's handler then restores the handler
            # from before fit(), so a second Ctrl-C stops at once.
            if threading.current_thread() is not threading.main_thread():
                return
            tune_handler = signal.getsignal(signal.SIGINT)

            def on_sigint(signum, frame):
                self.interrupted = True
                if callable(tune_handler):
                    tune_handler(signum, frame)
                else:
                    raise KeyboardInterrupt

            signal.signal(signal.SIGINT, on_sigint)

        def _tell(self, hook: str, *args) -> None:
            method = getattr(self.progress, hook, None) if self.progress is not None else None
            if method is None:
                return
            try:
                method(*args)
            except Exception:  # a display bug must not end the study
                if not self._warned:
                    logger.exception("progress display failed in %s", hook)
                    self._warned = True

        def on_trial_start(self, iteration, trials, trial, **info):
            self.started.add(trial.trial_id)
            self.told[trial.trial_id] = TrialState.RUNNING
            self._tell("on_trial_state", trial.trial_id, TrialState.RUNNING)

        def on_trial_result(self, iteration, trials, trial, result, **info):
            # Tune marks a result done=True when its scheduler or stopper ends the trial;
            # a trial that ends by itself produces no such (non-duplicate) result.
            if result.get("done") and FAILURE_KEY not in result:
                self.stopped_early.add(trial.trial_id)
            self._tell("on_result", trial.trial_id, dict(result))

        def on_trial_complete(self, iteration, trials, trial, **info):
            self.completed.add(trial.trial_id)
            last = trial.last_result or {}
            step = last.get("step")
            if FAILURE_KEY in last:
                state = TrialState.FAILED
            elif isinstance(step, (int, float)) and step >= trial.config.get("train.max_steps", self.max_steps):
                state = TrialState.FINISHED  # ASHA also "stops" trials that reach max_t
            elif trial.trial_id in self.stopped_early:
                state = TrialState.STOPPED
            else:
                state = TrialState.FINISHED
            self.told[trial.trial_id] = state
            self._tell("on_trial_state", trial.trial_id, state)

        def on_trial_recover(self, iteration, trials, trial, **info):
            self.told[trial.trial_id] = TrialState.RETRYING
            self._tell("on_trial_state", trial.trial_id, TrialState.RETRYING)

        def on_trial_error(self, iteration, trials, trial, **info):
            self.told[trial.trial_id] = TrialState.ERRORED
            self._tell("on_trial_state", trial.trial_id, TrialState.ERRORED)

        def settle(self, summaries) -> None:
            """Final states Tune has no hook for: trials the time budget stopped, trials
            still unfinished after Ctrl-C, and corrections of what on_trial_complete guessed."""
            for summary in summaries:
                if summary.trial_id in self.started and self.told.get(summary.trial_id) != summary.status:
                    self.told[summary.trial_id] = summary.status
                    self._tell("on_trial_state", summary.trial_id, summary.status)

    _WATCH_CLASS = StudyWatch
    return StudyWatch


class _QuietTune(logging.Filter):
    """Drops Tune's end-of-run notes that StudyOutcome reports instead (errored trials;
    an interruption, with Python resume advice that does not apply to the CLI)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not message.startswith(("Trials did not complete", "Experiment has been interrupted"))


@contextmanager
def _study_environment(spec: StudySpec) -> Iterator[None]:
    """Settings Tune reads from the environment, for the duration of ``fit()``."""
    import random

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
    the MLflow callback and the live display hold clients, locks and consoles.
    """
    internal = getattr(tuner, "_local_tuner", None)
    if internal is None:  # pragma: no cover - only under Ray Client, which connect() refuses
        raise ClusterError("Ray Client mode is not supported; give the GCS address (HOST:6379)")
    internal.get_run_config().callbacks = list(callbacks)


def _build_trainable(trainable: Callable, spec: StudySpec, payload: dict):
    from ray import tune

    with_spec = tune.with_parameters(trial, target=trainable, study=payload)
    return tune.with_resources(with_spec, {"cpu": spec.resources.cpu, "gpu": spec.resources.gpu})


# --- outcome --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrialSummary:
    trial_id: str
    status: str  # a TrialState value
    config: dict[str, Any]
    best: float | None  # the best objective value it reported (failure reports excluded)
    last_step: int | None
    failures: int  # exceptions Ray saw; all but an errored trial's last were retried
    error: str | None  # last line of the error, or the failure message
    path: str | None  # the trial's folder in Ray's storage


@dataclass(frozen=True)
class StudyOutcome:
    name: str
    experiment_path: str
    metric: str
    mode: str
    trials: list[TrialSummary] = field(default_factory=list)
    interrupted: bool = False
    elapsed_s: float = 0.0

    def count(self, status: str) -> int:
        return sum(t.status == status for t in self.trials)

    @property
    def finished(self) -> int:
        return self.count(TrialState.FINISHED)

    @property
    def stopped(self) -> int:
        return self.count(TrialState.STOPPED)

    @property
    def failed(self) -> int:
        return self.count(TrialState.FAILED)

    @property
    def errored(self) -> int:
        return self.count(TrialState.ERRORED)

    @property
    def unfinished(self) -> int:
        return self.count(TrialState.UNFINISHED)

    @property
    def resumable(self) -> bool:
        """Work is left: ``resume=True`` continues unfinished trials and starts the rest."""
        return self.interrupted or self.unfinished > 0

    @property
    def best_trial(self) -> TrialSummary | None:
        healthy = [t for t in self.trials if t.status not in (TrialState.FAILED, TrialState.ERRORED)]
        candidates = [t for t in healthy if t.best is not None]
        if not candidates:
            return None
        pick = max if self.mode == "max" else min
        return pick(candidates, key=lambda t: t.best)

    @property
    def best_config(self) -> dict[str, Any] | None:
        best = self.best_trial
        return dict(best.config) if best else None

    @property
    def best_metric(self) -> float | None:
        best = self.best_trial
        return best.best if best else None


def _error_line(trial) -> str | None:
    path = getattr(trial, "error_file", None)
    if not path or not os.path.exists(path):
        return None
    lines = [line.strip() for line in Path(path).read_text(errors="replace").splitlines() if line.strip()]
    for line in reversed(lines):
        if not line.startswith(("File ", "Failure #", "^", "~")):
            return line[:500]
    return lines[-1][:500] if lines else None


def _summaries(spec: StudySpec, path: str, metric: str, mode: str, watch) -> list[TrialSummary]:
    """Trial summaries from the experiment state as saved, which is what resume will see.

    (After an interruption Tune's in-memory trials read TERMINATED, because the cleanup
    stops them after the state was saved as RUNNING.)
    """
    from ray.tune import ExperimentAnalysis

    analysis = ExperimentAnalysis(path, default_metric=metric, default_mode=mode)
    summaries = []
    for t in analysis.trials:
        last = t.last_result or {}
        history = (t.metric_analysis or {}).get(metric, {})
        best = history.get(mode)
        if best is not None and (not isinstance(best, (int, float)) or math.isinf(best) or math.isnan(best)):
            best = None
        step = last.get("step")
        max_steps = t.config.get("train.max_steps", spec.train.max_steps)
        reached_end = isinstance(step, (int, float)) and step >= max_steps
        error = None
        if t.status == "ERROR":
            status, error = TrialState.ERRORED, _error_line(t)
        elif FAILURE_KEY in last:
            status, error = TrialState.FAILED, last.get(FAILURE_MESSAGE_KEY)
        elif t.status == "PAUSED" and reached_end:
            # Tune's synchronous HyperBand pauses trials at its last milestone (max_t) to
            # wait for the rest of their bracket, and can end the run with them still PAUSED.
            status = TrialState.FINISHED
        elif t.status in ("PENDING", "RUNNING", "PAUSED"):
            status = TrialState.UNFINISHED
        elif reached_end or (
            t.trial_id in watch.completed and t.trial_id not in watch.stopped_early
        ):
            status = TrialState.FINISHED
        else:
            status = TrialState.STOPPED
        summaries.append(
            TrialSummary(
                trial_id=t.trial_id,
                status=status,
                config=dict(t.config),
                best=float(best) if best is not None else None,
                last_step=int(step) if isinstance(step, (int, float)) else None,
                failures=int(getattr(t, "num_failures", 0) or 0),
                error=error,
                path=t.path,
            )
        )
    return summaries


# --- the study ------------------------------------------------------------------------------


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
    retry_errored: bool = False,
) -> StudyOutcome:
    """Run (or, with ``resume``, continue) the study ``spec`` as a Tune experiment.

    ``trainable(config, study)``: see the module docstring. ``storage``: Ray's storage folder
    (None: :func:`default_storage`); the experiment lives at ``storage/name``. ``name``
    defaults to ``spec.name``; ``extend`` passes ``<study>-ext<k>`` with the earlier trials'
    configs as ``points_to_evaluate`` and their objective values as ``evaluated_rewards``
    (see :func:`tfcli.study.space.make_searcher` for what each method does with them).
    ``callbacks``: Tune callbacks (the MLflow one) run on the driver; they need not pickle.
    ``num_samples`` / ``max_concurrent`` override the study file.

    ``resume``: continue the interrupted experiment ``storage/name``: unfinished trials
    resume from their checkpoints, finished ones are kept, errored ones stay errored unless
    ``retry_errored`` (then they resume from their last checkpoint). The experiment keeps
    the settings it started with (samples, searcher state, time budget left).

    Ray: the one already initialised, else the cluster at ``address``, else an embedded
    local Ray that is shut down on return. Call from the main thread for Ctrl-C handling.
    Raises StudyError (no such experiment to resume, or one already there to start) and
    ClusterError (cluster unreachable).
    """
    from ray import tune

    metric, mode = spec.objective.metric, spec.objective.mode
    exp_name = name or spec.name
    storage_path = _storage_root(storage)
    path = experiment_path(exp_name, storage_path)
    exists = tune.Tuner.can_restore(path)
    if resume and not exists:
        raise StudyError(f"no study {exp_name!r} to resume: nothing saved at {path}")
    if not resume and exists:
        raise StudyError(
            f"study {exp_name!r} already has runs at {path}; resume it, extend it, or choose another name"
        )

    started = connect(address)
    try:
        if (address or os.environ.get("RAY_ADDRESS") or "local") != "local":
            from tfcli.cluster.checks import preflight

            preflight(storage_path)
        payload = study_payload(spec, study_id=study_id, experiment=exp_name)
        wrapped = _build_trainable(trainable, spec, payload)
        if resume:
            tuner = tune.Tuner.restore(
                path, trainable=wrapped, resume_unfinished=True, resume_errored=retry_errored
            )
        else:
            from tfcli.study.space import make_scheduler, make_searcher, tuner_param_space

            tuner = tune.Tuner(
                wrapped,
                param_space=tuner_param_space(spec),
                tune_config=tune.TuneConfig(
                    metric=metric,
                    mode=mode,
                    search_alg=make_searcher(
                        spec,
                        metric,
                        mode,
                        points_to_evaluate=points_to_evaluate,
                        evaluated_rewards=evaluated_rewards,
                        max_concurrent=max_concurrent,
                    ),
                    scheduler=make_scheduler(spec),
                    num_samples=num_samples or spec.search.num_samples,
                    time_budget_s=spec.budget.time_seconds,
                    # A new trial reuses a finished trial's worker process: torch, tfcli and
                    # the cached data stay imported, which saves seconds per trial.
                    reuse_actors=True,
                ),
                run_config=tune.RunConfig(
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
                ),
            )
        from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

        watch = _watch_class()(progress, spec.train.max_steps)
        _attach_callbacks(tuner, [*callbacks, JsonLoggerCallback(), CSVLoggerCallback(), watch])
        start = time.monotonic()
        with _study_environment(spec):
            tuner.fit()
        elapsed = time.monotonic() - start
        trials = _summaries(spec, path, metric, mode, watch)
        watch.settle(trials)
        return StudyOutcome(
            name=exp_name,
            experiment_path=path,
            metric=metric,
            mode=mode,
            trials=trials,
            interrupted=watch.interrupted,
            elapsed_s=elapsed,
        )
    finally:
        if started:
            import ray

            ray.shutdown()
