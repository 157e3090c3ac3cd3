"""One run of one configuration outside Ray, recorded in MLflow: what ``tfcli train`` runs.

The plain training loop (:class:`~tfcli.train.loop.Trainer`) inside one MLflow run
(:class:`~tfcli.tracking.RunLogger`): the settings as params, every evaluation's metrics at
its step, the best checkpoint as artifacts, the test split's scores as ``test_<metric>``.
It sits above ``train`` and ``tracking`` because it joins the two; no Ray is involved.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from tfcli.spec.overrides import flat_settings
from tfcli.spec.schema import StudySpec
from tfcli.tracking import RunLogger
from tfcli.train.loop import Trainer, TrainResult


@dataclass(frozen=True)
class TrackedRun:
    """A finished single run: the loop's result and where MLflow keeps it."""

    result: TrainResult
    run_id: str
    artifact_uri: str


def default_workdir(spec: StudySpec) -> Path:
    """Where a single run keeps its checkpoints unless told: ``mlruns/train/NAME/TIME``."""
    return Path("mlruns") / "train" / spec.name / time.strftime("%Y%m%d-%H%M%S")


class EvaluationLogger:
    """A training-loop callback that logs each evaluation's metrics to ``run`` at its step.

    ``run`` is a :class:`tfcli.tracking.RunLogger` (anything with ``log_metrics(metrics, step)``).
    """

    def __init__(self, run):
        self.run = run

    def on_evaluation(self, evaluation) -> bool:
        for step, loss in evaluation.train_points:
            self.run.log_metrics({"train_loss": loss}, step=step)
        self.run.log_metrics(evaluation.metrics, step=evaluation.step)
        return False


def train_and_track(
    spec: StudySpec, tracking, workdir: Path, *, callbacks: list | tuple = (), evaluate_test: bool = True
) -> TrackedRun:
    """Train ``spec``'s configuration once in ``workdir`` and record it as one MLflow run.

    ``callbacks`` are training-loop callbacks (a display); a :class:`~tfcli.errors.DivergedError`
    propagates after the run is closed as FAILED.
    """
    with RunLogger(
        tracking, experiment=spec.name, run_name=f"train-{workdir.name}", params=flat_settings(spec), tags={"tfcli.task": spec.task.type}
    ) as run:
        trainer = Trainer(spec, workdir, callbacks=[*callbacks, EvaluationLogger(run)], evaluate_test=evaluate_test)
        run.log_params({"train.device_resolved": trainer.placement.device, "train.precision_resolved": trainer.placement.precision})
        result = trainer.fit()
        if result.best is not None:
            run.log_artifacts(result.best.checkpoint, "checkpoint")
        if result.test_metrics:
            run.log_metrics({f"test_{k}": v for k, v in result.test_metrics.items()}, step=result.steps)
        run.set_tags({"tfcli.parameters": result.parameters, "tfcli.checkpoint_step": result.best.step if result.best else ""})
        return TrackedRun(result=result, run_id=run.run_id, artifact_uri=run.artifact_uri)
