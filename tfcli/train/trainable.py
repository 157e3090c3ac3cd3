"""The Ray Tune adapter: one trial is one :class:`Trainer` run that reports to Tune.

The only training module that imports Ray. Everything else a trial does is the plain training
loop, which ``tfcli train`` and the unit tests run without Ray.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from tfcli.spec.constraints import refused_result
from tfcli.spec.results import TRAIN_LOSS_POINTS_KEY, encode_points
from tfcli.spec.trial import spec_from_payload, trial_spec
from tfcli.train.loop import Trainer


class TuneReporter:
    """Training-loop callback: every evaluation goes to Tune with its checkpoint folder, and
    the ``train.log_every`` points since the previous one with it."""

    def on_evaluation(self, evaluation) -> bool:
        from ray import tune

        metrics: dict = {k: v for k, v in evaluation.metrics.items() if isinstance(v, (int, float))}
        if evaluation.train_points:
            metrics[TRAIN_LOSS_POINTS_KEY] = encode_points(evaluation.train_points)
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(str(evaluation.checkpoint)))
        return False


def train_trial(config: dict[str, Any], study: dict[str, Any]) -> None:
    """Run one trial: resume from Tune's checkpoint when there is one (retry, restore, PBT)."""
    import torch
    from ray import tune

    spec = trial_spec(spec_from_payload(study), config)
    torch.set_num_threads(max(1, int(spec.resources.cpu)))
    workdir = Path(tempfile.mkdtemp(prefix="tfcli-trial-"))
    try:
        resume_from = None
        checkpoint = tune.get_checkpoint()
        if checkpoint is not None:
            resume_from = workdir / "resume"
            with checkpoint.as_directory() as folder:
                shutil.copytree(folder, resume_from)
        trainer = Trainer(spec, workdir / "run", callbacks=[TuneReporter()], resume_from=resume_from)
        refused = refused_result(spec, {"parameters": trainer.parameters})
        if refused is not None:
            tune.report(refused)  # over a search.constraints limit: no step is trained
            return
        trainer.fit()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
