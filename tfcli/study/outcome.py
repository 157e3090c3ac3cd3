"""How a study went: the final state of each trial, and the study's best."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfcli.records import TrialStatus
from tfcli.spec.objective import TIE_BREAK_METRIC, Objective
from tfcli.spec.results import reached_end
from tfcli.spec.schema import StudySpec
from tfcli.study.trial_wrapper import FAILURE_KEY, FAILURE_MESSAGE_KEY


@dataclass(frozen=True)
class TrialSummary:
    trial_id: str
    status: TrialStatus  # one of the runner's states (not RUNNING or RETRYING, not KILLED)
    config: dict[str, Any]
    best: float | None  # the best objective value it reported (failure reports excluded)
    last_step: int | None
    failures: int  # exceptions Ray saw; all but an errored trial's last were retried
    error: str | None  # last line of the error, or the failure message
    path: str | None  # the trial's folder in Ray's storage
    best_key: tuple | None = None  # (best value, validation loss, step) of that result: ties are broken by outranks


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

    def count(self, status: TrialStatus) -> int:
        return sum(t.status == status for t in self.trials)

    @property
    def finished(self) -> int:
        return self.count(TrialStatus.FINISHED)

    @property
    def stopped(self) -> int:
        return self.count(TrialStatus.STOPPED)

    @property
    def failed(self) -> int:
        return self.count(TrialStatus.FAILED)

    @property
    def errored(self) -> int:
        return self.count(TrialStatus.ERRORED)

    @property
    def unfinished(self) -> int:
        return self.count(TrialStatus.UNFINISHED)

    @property
    def resumable(self) -> bool:
        """Work is left: ``resume=True`` continues unfinished trials and starts the rest."""
        return self.interrupted or self.unfinished > 0

    @property
    def best_trial(self) -> TrialSummary | None:
        healthy = [t for t in self.trials if not t.status.is_failure]
        return Objective(self.metric, self.mode).best(healthy, key=lambda t: t.best_key or (t.best, None, None))

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
    summaries = []
    for t in analysis.trials:
        last = t.last_result or {}
        history = (t.metric_analysis or {}).get(metric, {})
        best = history.get(mode)
        if best is not None and (not isinstance(best, (int, float)) or math.isinf(best) or math.isnan(best)):
            best = None
        step = last.get("step")
        trained_to_end = reached_end(step, t.config.get("train.max_steps", spec.train.max_steps), last)
        error = None
        if t.status == "ERROR":
            status, error = TrialStatus.ERRORED, _error_line(t)
        elif FAILURE_KEY in last:
            status, error = TrialStatus.FAILED, last.get(FAILURE_MESSAGE_KEY)
        elif t.status == "PAUSED" and trained_to_end:
            # Tune's synchronous HyperBand pauses trials at its last milestone (max_t) to
            # wait for the rest of their bracket, and can end the run with them still PAUSED.
            status = TrialStatus.FINISHED
        elif t.status in ("PENDING", "RUNNING", "PAUSED"):
            status = TrialStatus.UNFINISHED
        elif trained_to_end or (
            t.trial_id in watch.completed and t.trial_id not in watch.stopped_early
        ):
            status = TrialStatus.FINISHED
        else:
            status = TrialStatus.STOPPED
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
            )
        )
    return summaries


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
