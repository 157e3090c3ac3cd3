"""Scoring a finished trial's checkpoint on a held-out split, exactly as its validation was scored.

The checkpoint's files arrive as bytes (a Ray task gets them through the object store, so it
may run on any node); the trial's spec rebuilds the same data, tokenizer and model, and
:meth:`~tfcli.train.loop.Trainer.evaluate_split` decodes the split with the study's decoding
settings and scores it with the same metric code.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Mapping

from tfcli.spec.schema import StudySpec
from tfcli.train.loop import Trainer


def evaluate_checkpoint_files(spec: StudySpec, files: Mapping[str, bytes], split: str = "test") -> tuple[dict[str, float], list[dict]]:
    """The metrics and per-example outputs of the checkpoint ``files`` on ``split``."""
    import torch

    torch.set_num_threads(max(1, int(spec.resources.cpu)))
    workdir = Path(tempfile.mkdtemp(prefix="tfcli-held-out-"))
    try:
        checkpoint = workdir / "checkpoint"
        checkpoint.mkdir()
        for name, data in files.items():
            (checkpoint / Path(name).name).write_bytes(data)
        trainer = Trainer(spec, workdir / "run")
        return trainer.evaluate_split(split, checkpoint=checkpoint)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
