"""The driver-side Tune callback that forwards trial progress and notices Ctrl-C.

The display hears of each trial under its number (:class:`TrialNames`), the one the
tracking callback gives it and the report shows, with Ray's id beside it when it starts.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any, Callable, Optional, Protocol

from tfcli import crash_points
from tfcli.records import Evidence, TrialState, decide_state
from tfcli.records.state import RAY_ERROR, STOPPED_BY_SCHEDULER
from tfcli.spec.results import reached_end
from tfcli.study.trial_wrapper import FAILURE_KEY
from tfcli.tracking.ray_trial import trial_error_text
from tfcli.tracking.values import error_summary, plain_config

logger = logging.getLogger(__name__)


class Progress(Protocol):
    """Hooks for a live display; ``run_study`` calls them on the driver, between steps."""

    def on_result(self, trial_id: str, result: dict) -> None: ...

    def on_trial_state(
        self, trial_id: str, state: TrialState, config: dict | None = None, error: str | None = None
    ) -> None:
        """``config``: the trial's searched values, given when it starts; ``error``: the
        one-line error of a trial that failed, or (told ``running`` again) of one that raised
        and is retried from its last checkpoint."""


class Tracked:
    """A :class:`Progress` joined to the study's tracking callback, which knows what Ray does
    not: each trial's number (the one the report shows) and whether its checkpoint was stored.

    The display hears of each trial under its number; a trial without one keeps Ray's id.
    It is told Ray's id (``ray_id=``) with a trial's start, where a user needs it to find
    Ray's logs. ``tracker``: a :class:`~tfcli.tracking.callback.StudyTracker`.
    """

    def __init__(self, progress: Optional[Any], tracker: Any):
        self.progress = progress
        self.number_of: Callable[[str], Optional[int]] = tracker.number_of
        self.checkpoint_stored: Callable[[str], bool] = tracker.checkpoint_stored

    def name(self, trial_id: str) -> str:
        number = self.number_of(trial_id)
        return str(number) if number is not None else trial_id

    def on_result(self, trial_id: str, result: dict) -> None:
        hook = getattr(self.progress, "on_result", None)
        if hook is not None:
            hook(self.name(trial_id), result)

    def on_trial_state(self, trial_id: str, state: TrialState, config: dict | None = None, error: str | None = None) -> None:
        hook = getattr(self.progress, "on_trial_state", None)
        if hook is None:
            return
        name = self.name(trial_id)
        if name != trial_id and state is TrialState.RUNNING and config is not None:
            hook(name, state, config, error, ray_id=trial_id)
        else:
            hook(name, state, config, error)

    def on_notice(self, text: str) -> None:
        """A line about the study as a whole (what it waits for), passed on as it is."""
        hook = getattr(self.progress, "on_notice", None)
        if hook is not None:
            hook(text)
        else:
            logger.warning(text)


class _WatchHooks:
    """The hooks of the driver-side Tune callback: forwards progress and notices SIGINT.

    A plain class so that this module imports no Ray; :func:`_watch_class` joins it with
    Ray's ``Callback``.
    """

    def __init__(self, progress: Progress | None, max_steps: int):
        self.progress = progress
        self.max_steps = max_steps
        self.interrupted = False
        self.stopped_early: set[str] = set()
        self.completed: set[str] = set()
        self.started: set[str] = set()
        self.told: dict[str, TrialState] = {}  # the last state told per trial
        self.study_stop: str | None = None  # why the study's stopper ended it (tfcli.study.stopping)
        self.study_stop_note: str | None = None
        self._warned = False

    def study_stopped(self, reason: str, note: str) -> None:
        """The study's stopper ended the study (``budget.target`` or ``budget.patience``)."""
        self.study_stop, self.study_stop_note = reason, note
        self._tell("on_notice", f"Study ends early: {note}")

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

    def number_of(self, trial_id: str) -> Optional[int]:
        """The trial's number, when the progress is :class:`Tracked`."""
        ask = getattr(self.progress, "number_of", None)
        return ask(trial_id) if ask is not None else None

    def checkpoint_stored(self, trial_id: str) -> bool:
        """False when the tracking callback could not store the trial's checkpoint."""
        ask = getattr(self.progress, "checkpoint_stored", None)
        return ask(trial_id) if ask is not None else True

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
        self._tell("on_trial_state", trial.trial_id, TrialState.RUNNING, plain_config(trial.config))
        crash_points.reached(crash_points.AFTER_FIRST_TRIAL_START)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        # Tune marks a result done=True when its scheduler or stopper ends the trial;
        # a trial that ends by itself produces no such (non-duplicate) result.
        if result.get("done") and FAILURE_KEY not in result:
            self.stopped_early.add(trial.trial_id)
        self._tell("on_result", trial.trial_id, dict(result))

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.completed.add(trial.trial_id)
        last = trial.last_result or {}
        state = decide_state(
            Evidence(
                reached_end=reached_end(last.get("step"), trial.config.get("train.max_steps", self.max_steps), last),
                stopped_by=STOPPED_BY_SCHEDULER if trial.trial_id in self.stopped_early else None,
                failure=last.get(FAILURE_KEY),
            )
        )
        self.told[trial.trial_id] = state
        self._tell("on_trial_state", trial.trial_id, state)

    def on_trial_recover(self, iteration, trials, trial, **info):
        # It raised and restarts from its last checkpoint: still running, and the display says why.
        self.told[trial.trial_id] = TrialState.RUNNING
        self._tell("on_trial_state", trial.trial_id, TrialState.RUNNING, None, error_summary(trial_error_text(trial)))

    def on_trial_error(self, iteration, trials, trial, **info):
        state = decide_state(Evidence(ray_status=RAY_ERROR))
        self.told[trial.trial_id] = state
        self._tell("on_trial_state", trial.trial_id, state, None, error_summary(trial_error_text(trial)))

    def settle(self, summaries) -> None:
        """Final states Tune has no hook for: trials the time budget stopped, trials
        still unfinished after Ctrl-C, and corrections of what on_trial_complete guessed."""
        for summary in summaries:
            if summary.trial_id in self.started and self.told.get(summary.trial_id) != summary.status:
                self.told[summary.trial_id] = summary.status
                self._tell("on_trial_state", summary.trial_id, summary.status, None, summary.error if summary.status.is_failure else None)


_WATCH_CLASS = None


def _watch_class():
    """The driver-side Tune callback: forwards progress and notices SIGINT (built lazily)."""
    global _WATCH_CLASS
    if _WATCH_CLASS is not None:
        return _WATCH_CLASS
    from ray.tune import Callback

    class StudyWatch(_WatchHooks, Callback):
        pass

    _WATCH_CLASS = StudyWatch
    return StudyWatch
