"""What reports and exports read: frozen records of studies and trials.

The records are built from the tracking store by :func:`tfcli.tracking.trial_records` and
:func:`tfcli.tracking.list_studies`; nothing here imports MLflow or Ray, so a report can be
unit-tested with hand-made records.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping, Optional

from tfcli.records.state import (
    Evidence,
    TrialState,
    TrialStatus,
    decide_state,
    recorded_state,
)

__all__ = [
    "Confirmation", "Evidence", "MetricBest", "StudyRecord", "TrialRecord", "TrialState", "TrialStatus",
    "decide_state", "recorded_state",
]


@dataclass(frozen=True)
class MetricBest:
    """The best value a metric reached in a trial's history, and the step it was reached at."""

    value: float
    step: int

    def to_dict(self) -> dict:
        return {"value": _json_float(self.value), "step": self.step}


@dataclass(frozen=True)
class TrialRecord:
    """One trial of a study: its configuration, results and where its checkpoint lives.

    ``params`` are the trial's full configuration as dotted names (``train.lr``), typed back
    from MLflow's strings; ``config`` holds only the searched values the trial started with and
    ``final_config`` the ones it ended with (they differ only when PBT changed them).
    ``metrics`` are the final (last-step) values; ``best`` the best value of each metric with
    its step (empty when the records were read without history). ``objective_value`` is the
    best value of the study's objective and ``objective_step`` its step; the exported
    checkpoint is the trial's best by the objective, logged at ``checkpoint_step``.
    ``infeasible`` names the ``search.constraints`` the trial broke: it ranks after every
    feasible trial, is never exported and is off the Pareto front (:attr:`feasible`).
    """

    study: str
    study_id: str
    trial_id: str
    run_id: str
    status: TrialStatus
    params: Mapping[str, Any] = field(default_factory=dict)
    config: Mapping[str, Any] = field(default_factory=dict)
    final_config: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    best: Mapping[str, MetricBest] = field(default_factory=dict)
    objective_metric: Optional[str] = None
    objective_mode: Optional[str] = None
    objective_value: Optional[float] = None
    objective_step: Optional[int] = None
    last_step: Optional[int] = None
    checkpoint_uri: Optional[str] = None
    checkpoint_step: Optional[int] = None
    start_time: Optional[datetime] = None
    end_time: Optional[datetime] = None
    duration_s: Optional[float] = None
    error: Optional[str] = None
    stopped_early: bool = False
    config_changes: int = 0
    artifact_uri: Optional[str] = None
    number: Optional[int] = None  # 0, 1, ... in the order the study's trials started, across extends
    infeasible: Optional[str] = None  # the search.constraints it broke, with the values (tag tfcli.infeasible)

    @property
    def has_checkpoint(self) -> bool:
        return self.checkpoint_uri is not None

    @property
    def state(self) -> TrialState:
        """The word every view prints of this trial (:func:`~tfcli.records.state.recorded_state`)."""
        return recorded_state(self.status.value, self.stopped_early)

    @property
    def feasible(self) -> bool:
        """It broke none of the study's ``search.constraints``."""
        return not self.infeasible

    @property
    def label(self) -> str:
        """How reports name the trial: its number, or Ray's id for a run logged without one."""
        return str(self.number) if self.number is not None else self.trial_id

    def to_dict(self) -> dict:
        """A JSON-friendly dict (for ``--format json`` and exports)."""
        return {
            "study": self.study,
            "study_id": self.study_id,
            "trial_id": self.trial_id,
            "number": self.number,
            "run_id": self.run_id,
            "status": self.status.value,
            "state": self.state.value,
            "params": dict(self.params),
            "config": dict(self.config),
            "final_config": dict(self.final_config),
            "metrics": {k: _json_float(v) for k, v in self.metrics.items()},
            "best": {k: v.to_dict() for k, v in self.best.items()},
            "objective": {
                "metric": self.objective_metric,
                "mode": self.objective_mode,
                "value": _json_float(self.objective_value),
                "step": self.objective_step,
            },
            "last_step": self.last_step,
            "checkpoint_uri": self.checkpoint_uri,
            "checkpoint_step": self.checkpoint_step,
            "start_time": _iso(self.start_time),
            "end_time": _iso(self.end_time),
            "duration_s": self.duration_s,
            "error": self.error,
            "stopped_early": self.stopped_early,
            "config_changes": self.config_changes,
            "artifact_uri": self.artifact_uri,
            "infeasible": self.infeasible,
        }


@dataclass(frozen=True)
class StudyRecord:
    """One study: its MLflow experiment and parent run, its spec, and how its trials stand.

    ``counts`` maps each :class:`TrialStatus` value (MLflow's run status) to the number of
    trials in it, ``states`` each :class:`TrialState` word (what views print); ``best_*``
    name the trial with the best objective value among those that report one. ``metrics``
    are the parent run's own latest metrics (the baselines, ``baseline/<name>/<metric>``).
    """

    name: str
    study_id: str
    run_id: str
    experiment_id: str
    status: str
    spec_json: Optional[str] = None
    objective_metric: Optional[str] = None
    objective_mode: Optional[str] = None
    task: Optional[str] = None
    start_time: Optional[datetime] = None
    end_time: Optional[datetime] = None
    counts: Mapping[str, int] = field(default_factory=dict)
    states: Mapping[str, int] = field(default_factory=dict)
    best_trial_id: Optional[str] = None
    best_value: Optional[float] = None
    artifact_uri: Optional[str] = None
    metrics: Mapping[str, float] = field(default_factory=dict)

    @property
    def n_trials(self) -> int:
        return sum(self.counts.values())

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "study_id": self.study_id,
            "run_id": self.run_id,
            "experiment_id": self.experiment_id,
            "status": self.status,
            "task": self.task,
            "objective": {"metric": self.objective_metric, "mode": self.objective_mode},
            "start_time": _iso(self.start_time),
            "end_time": _iso(self.end_time),
            "trials": self.n_trials,
            "counts": dict(self.counts),
            "states": dict(self.states),
            "best_trial_id": self.best_trial_id,
            "best_value": _json_float(self.best_value),
            "artifact_uri": self.artifact_uri,
        }


def _json_float(value: Optional[float]) -> Optional[float]:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return value


def _iso(value: Optional[datetime]) -> Optional[str]:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class Confirmation:
    """One run of ``tfcli study confirm``: a trial's configuration retrained with a fresh seed.

    ``record`` is the run read as a trial (its objective value is its validation score);
    ``confirms`` the id of the trial whose configuration it retrains, ``seed`` its train.seed.
    """

    record: TrialRecord
    confirms: str
    seed: int

