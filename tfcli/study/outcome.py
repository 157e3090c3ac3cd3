"""How a study went: the final state of each trial, and the study's best."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfcli.records import Evidence, TrialState, decide_state
from tfcli.records.state import RAY_ERROR, RAY_TERMINATED, STOPPED_BY_SCHEDULER, STOPPED_BY_TIME_BUDGET
from tfcli.spec.constraints import broken, constraints_of
from tfcli.spec.objective import TIE_BREAK_METRIC, Objective
from tfcli.spec.results import reached_end
from tfcli.spec.schema import StudySpec
from tfcli.study.trial_wrapper import FAILURE_KEY, FAILURE_MESSAGE_KEY


@dataclass(frozen=True)
class TrialSummary:
    trial_id: str
    status: TrialState  # its state once the run is over (never running)
    config: dict[str, Any]
    best: float | None  # the best objective value it reported (failure reports excluded)
    last_step: int | None
    failures: int  # exceptions Ray saw; all but an errored trial's last were retried
    error: str | None  # last line of the error, or the failure message
    path: str | None  # the trial's folder in Ray's storage
    best_key: tuple | None = None  # (best value, validation loss, step) of that result: ties are broken by outranks
    number: int | None = None  # the trial number the tracking callback gave it (TrialRecord.number)
    raised: bool = False  # it raised and used up its retries (Ray's ERROR), as opposed to a reported failure
    infeasible: str | None = None  # the search.constraints its last result broke (spec.constraints.broken)

    @property
    def state(self) -> TrialState:
        return self.status

    @property
    def label(self) -> str:
        """How every view names the trial: its number, or Ray's id when it has none."""
        return str(self.number) if self.number is not None else self.trial_id


@dataclass(frozen=True)
class StudyOutcome:
    name: str
    experiment_path: str
    metric: str
    mode: str
    trials: list[TrialSummary] = field(default_factory=list)
    interrupted: bool = False
    elapsed_s: float = 0.0
    #: What the tracking callbacks could not record (a checkpoint, a trial's final record),
    #: one line each; a study with lost work does not report success.
    lost_work: list[str] = field(default_factory=list)
    #: What the study's closing work (test scores) could not do, one line each; not a failure.
    notes: list[str] = field(default_factory=list)
    #: Why the study ended early (``budget.target`` reached, ``budget.patience`` spent), or None.
    stopped_early: str | None = None

    def count(self, state: TrialState) -> int:
        return sum(t.status is state for t in self.trials)

    @property
    def finished(self) -> int:
        return self.count(TrialState.FINISHED)

    @property
    def stopped(self) -> int:
        return self.count(TrialState.STOPPED)

    @property
    def failed(self) -> int:
        """Failed without raising: a reported failure (diverged, out of memory), a checkpoint lost."""
        return self.count(TrialState.FAILED) - self.errored

    @property
    def errored(self) -> int:
        """Failed by raising, with its retries used up (both kinds print as ``failed``)."""
        return sum(t.raised and t.status is TrialState.FAILED for t in self.trials)

    @property
    def unfinished(self) -> int:
        """Trials the end of the run cut short (``killed``): ``resume`` continues them."""
        return self.count(TrialState.KILLED)

    @property
    def resumable(self) -> bool:
        """Work is left: ``resume=True`` continues unfinished trials and starts the rest."""
        return self.interrupted or self.unfinished > 0

    @property
    def best_trial(self) -> TrialSummary | None:
        healthy = [t for t in self.trials if not t.status.is_failure]
        return Objective(self.metric, self.mode).best(
            healthy, key=lambda t: t.best_key or (t.best, None, None), infeasible=lambda t: t.infeasible
        )

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
    frames = analysis.trial_dataframes
    constraints = constraints_of(spec.search.constraints)
    summaries = []
    for t in analysis.trials:
        last = t.last_result or {}
        if watch.study_stop and not last and t.trial_id not in watch.started:
            continue  # suggested but never started when the study's stopper ended it: no run, no trial
        history = (t.metric_analysis or {}).get(metric, {})
        best = history.get(mode)
        if best is not None and (not isinstance(best, (int, float)) or math.isinf(best) or math.isnan(best)):
            best = None
        step = last.get("step")
        evidence = _evidence(t, last, spec, watch)
        status = decide_state(evidence)
        error = _error_line(t) if t.status == RAY_ERROR else last.get(FAILURE_MESSAGE_KEY) if FAILURE_KEY in last else None
        if not evidence.checkpoint_stored:
            error = error or "its checkpoint could not be stored"
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
                best_key=_best_key(frames.get(t.trial_id), metric, mode),
                number=watch.number_of(t.trial_id),
                raised=t.status == RAY_ERROR,
                infeasible=None if error else broken(constraints, last) or None,
            )
        )
    return summaries


def _evidence(t, last: dict, spec: StudySpec, watch) -> Evidence:
    """What the saved experiment and the watch know of the Ray trial ``t`` once the run is over."""
    if t.trial_id in watch.stopped_early:
        stopped_by = STOPPED_BY_SCHEDULER
    elif t.status == RAY_TERMINATED and t.trial_id not in watch.completed:
        # Tune tells no hook of the trials its time budget or the study's stopper ends.
        stopped_by = watch.study_stop or STOPPED_BY_TIME_BUDGET
    else:
        stopped_by = None
    return Evidence(
        ray_status=t.status,
        reached_end=reached_end(last.get("step"), t.config.get("train.max_steps", spec.train.max_steps), last),
        stopped_by=stopped_by,
        failure=last.get(FAILURE_KEY) if FAILURE_KEY in last else None,
        checkpoint_stored=watch.checkpoint_stored(t.trial_id),
        study_over=True,
    )


def _best_key(frame, metric: str, mode: str) -> tuple | None:
    """(value, validation loss, step) of a trial's best result in its saved progress, by
    :func:`outranks`; None when the progress holds no objective value."""
    if frame is None or metric not in getattr(frame, "columns", ()):
        return None
    keys = [
        (_finite(row.get(metric)), _finite(row.get(TIE_BREAK_METRIC)), _finite(row.get("step")))
        for row in frame.to_dict("records")
        if not (FAILURE_KEY in row and row[FAILURE_KEY] == row[FAILURE_KEY] and row[FAILURE_KEY])
    ]
    return Objective(metric, mode).best(keys, key=lambda key: key)


def _finite(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None
