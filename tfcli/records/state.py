"""A trial's state: the five words every view prints, and the one rule that decides them.

Every view of a trial (the ``tfcli.state`` tag, ``study status``, the report, the live
display and its log lines, the end-of-study summary and the parent run's ``trials_<state>``
counts) prints a :class:`TrialState`, and every place that decides one calls
:func:`decide_state` with what it knows of the trial (:class:`Evidence`). MLflow's run
statuses and Ray's trial statuses are spelled out here and nowhere else in the package.

``stopped`` is an early stop by the scheduler or the study's time budget (Optuna's PRUNED);
``killed`` is a trial cut short by an interruption, which ``resume`` continues. A trial
that raised and is being retried is ``running``; one that used up its retries, diverged, ran
out of memory or whose checkpoint could not be stored is ``failed``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Optional


class TrialStatus(str, enum.Enum):
    """MLflow's run statuses (``.value`` is MLflow's word): what a trial's run is recorded as,
    and what the reports and exports filter on (a stopped trial's run is FINISHED)."""

    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @classmethod
    def mlflow_statuses(cls) -> tuple["TrialStatus", ...]:
        """The statuses a trial's MLflow run can have (what ``StudyRecord.counts`` counts)."""
        return tuple(cls)

    @classmethod
    def from_mlflow(cls, status: Optional[str]) -> "TrialStatus":
        # MLflow also knows SCHEDULED: a run that exists but has not started.
        return cls(status) if status in {s.value for s in cls} else cls.RUNNING

    @property
    def is_done(self) -> bool:
        """The run has ended (until a resume reopens it)."""
        return self is not TrialStatus.RUNNING


class TrialState(str, enum.Enum):
    """Where a trial stands, in the word every view prints (``.value``)."""

    RUNNING = "running"
    FINISHED = "finished"
    STOPPED = "stopped"
    FAILED = "failed"
    KILLED = "killed"

    @property
    def mlflow(self) -> TrialStatus:
        """The MLflow status a trial in this state is recorded as (a stopped trial's run is
        FINISHED with the tag ``tfcli.stopped_early``)."""
        return _AS_MLFLOW[self]

    @property
    def label(self) -> str:
        """The word every view prints."""
        return self.value

    @property
    def is_done(self) -> bool:
        """Ended: nothing more happens to the trial unless the study is resumed."""
        return self is not TrialState.RUNNING

    @property
    def is_final(self) -> bool:
        """Ended for good: ``resume`` runs it no more (a killed trial it continues)."""
        return self.is_done and self is not TrialState.KILLED

    @property
    def is_failure(self) -> bool:
        """Its results do not count towards the study's best."""
        return self is TrialState.FAILED


_AS_MLFLOW = {
    TrialState.RUNNING: TrialStatus.RUNNING,
    TrialState.FINISHED: TrialStatus.FINISHED,
    TrialState.STOPPED: TrialStatus.FINISHED,
    TrialState.FAILED: TrialStatus.FAILED,
    TrialState.KILLED: TrialStatus.KILLED,
}

#: Why a trial ended early on purpose (the tag ``tfcli.stop_reason``).
STOPPED_BY_SCHEDULER = "scheduler"
STOPPED_BY_TIME_BUDGET = "time_budget"
#: The study ended early (``budget.target`` reached, ``budget.patience`` spent) while it ran.
STOPPED_BY_TARGET = "target"
STOPPED_BY_PATIENCE = "patience"
#: A configuration that broke a ``search.constraints`` limit known before training trained no step.
STOPPED_BY_CONSTRAINT = "constraint"

# Ray Tune's trial statuses.
RAY_PENDING, RAY_RUNNING, RAY_PAUSED = "PENDING", "RUNNING", "PAUSED"
RAY_TERMINATED, RAY_ERROR = "TERMINATED", "ERROR"
_RAY_ACTIVE = (RAY_PENDING, RAY_RUNNING, RAY_PAUSED)


@dataclass(frozen=True)
class Evidence:
    """What is known of a trial when its state is decided; every field may be left unknown.

    ``ray_status``: Ray's status of the trial, when Ray ran it and the caller read it.
    ``reached_end``: its last result is at ``train.max_steps`` or its ``train.max_time``
    budget (:func:`tfcli.spec.results.reached_end`). ``stopped_by``: it was ended early on
    purpose (:data:`STOPPED_BY_SCHEDULER`, :data:`STOPPED_BY_TIME_BUDGET`, :data:`STOPPED_BY_TARGET`,
    :data:`STOPPED_BY_PATIENCE`, :data:`STOPPED_BY_CONSTRAINT`). ``failure``: why
    it failed, when it did (a reported no-retry failure such as ``diverged``, or an error
    that ended it). ``checkpoint_stored``: False when its best checkpoint could not be
    stored. ``interrupted``: the study stopped (Ctrl-C, SIGTERM, a lost driver) before the
    trial ended. ``study_over``: the study's run is over, so a trial Ray still holds as
    pending, running or paused was cut short.
    """

    ray_status: Optional[str] = None
    reached_end: bool = False
    stopped_by: Optional[str] = None
    failure: Optional[str] = None
    checkpoint_stored: bool = True
    interrupted: bool = False
    study_over: bool = False


def decide_state(evidence: Evidence) -> TrialState:
    """The one rule of a trial's state (see :class:`Evidence`)."""
    e = evidence
    if e.failure or e.ray_status == RAY_ERROR or not e.checkpoint_stored:
        return TrialState.FAILED
    if e.ray_status in _RAY_ACTIVE:
        # Tune's synchronous HyperBand pauses trials at its last milestone (max_t) to wait for
        # the rest of their bracket, and can end the run with them still PAUSED.
        if e.ray_status == RAY_PAUSED and e.reached_end:
            return TrialState.FINISHED
        return TrialState.KILLED if e.study_over or e.interrupted else TrialState.RUNNING
    if e.interrupted:
        return TrialState.KILLED  # what Ray will continue on resume, even at its last step
    if e.reached_end:
        return TrialState.FINISHED  # ASHA also "stops" the trials that reach max_t
    if e.stopped_by:
        return TrialState.STOPPED
    return TrialState.FINISHED  # ended by itself


def recorded_state(status: Optional[str], stopped_early: bool = False) -> TrialState:
    """The state of a trial whose MLflow run has ``status`` (MLflow's word), read back from
    the store: FINISHED with the tag ``tfcli.stopped_early`` is ``stopped``."""
    mlflow = TrialStatus.from_mlflow(status)
    if mlflow is TrialStatus.FINISHED and stopped_early:
        return TrialState.STOPPED
    return {s.mlflow: s for s in (TrialState.RUNNING, TrialState.FINISHED, TrialState.FAILED, TrialState.KILLED)}[mlflow]
