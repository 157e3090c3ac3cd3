"""Checkpoint folders, shared by training (resume), Ray Tune (trial state) and export.

A checkpoint folder holds:

- ``model.safetensors``: the weights (never pickled);
- ``config.json``: the model config, the task, the label vocabulary, the resolved study and
  the step; everything needed to rebuild the model and its tokenizer;
- ``tokenizer.json``: the subword tokenizer;
- ``metrics.json``: the evaluation that produced this checkpoint;
- ``valid_outputs.jsonl``: the validation predictions of that evaluation, one per example,
  in the order of the validation split (reports run significance tests on them);
- ``trainer_state.pt``: optimizer, scheduler, loss-scaler and RNG states and the position in
  the data, for resuming. Export leaves it out; loading a model never reads it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
TOKENIZER_FILE = "tokenizer.json"
METRICS_FILE = "metrics.json"
OUTPUTS_FILE = "valid_outputs.jsonl"
STATE_FILE = "trainer_state.pt"


def save_model_files(directory: Path, model, config: dict[str, Any], tokenizer) -> None:
    from safetensors.torch import save_model

    directory.mkdir(parents=True, exist_ok=True)
    save_model(model, str(directory / MODEL_FILE))
    (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True))
    tokenizer.save(str(directory / TOKENIZER_FILE))


def save_checkpoint(
    directory: Path,
    *,
    model,
    config: dict[str, Any],
    tokenizer,
    metrics: dict[str, Any],
    outputs: list[dict[str, Any]],
    trainer_state: dict[str, Any] | None,
) -> Path:
    import torch

    directory = Path(directory)
    save_model_files(directory, model, config, tokenizer)
    (directory / METRICS_FILE).write_text(json.dumps(metrics, indent=2, sort_keys=True))
    with (directory / OUTPUTS_FILE).open("w", encoding="utf-8") as handle:
        for record in outputs:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    if trainer_state is not None:
        torch.save(trainer_state, directory / STATE_FILE)
    return directory


def read_config(directory: Path) -> dict[str, Any]:
    return json.loads((Path(directory) / CONFIG_FILE).read_text())


def load_weights(model, directory: Path, device: str = "cpu") -> None:
    from safetensors.torch import load_model

    load_model(model, str(Path(directory) / MODEL_FILE), device=device)


def load_trainer_state(directory: Path) -> dict[str, Any] | None:
    import torch

    path = Path(directory) / STATE_FILE
    if not path.is_file():
        return None
    return torch.load(path, map_location="cpu", weights_only=True)


def read_outputs(directory: Path) -> list[dict[str, Any]]:
    path = Path(directory) / OUTPUTS_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
