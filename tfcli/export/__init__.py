"""Exported models: a trial's checkpoint as a self-describing folder, and loading it to predict.

An export folder holds:

- ``model.safetensors``: the weights, as the trial's checkpoint saved them;
- ``config.json``: everything needed to rebuild and use the model (see :func:`export_config`):
  the model architecture, the task and its labels, the tokenizer settings, the decoding
  settings the trial was evaluated with, its validation metrics with their signatures, its
  hyperparameters, and where it came from (study, trial, run, tracking URI, step);
- ``tokenizer.json``: the subword tokenizer;
- ``README.md``: a model card.

Loading reads JSON and safetensors only: nothing is unpickled, and ``torch.load`` is never
called (the checkpoint's ``trainer_state.pt`` is not exported). :class:`ExportedModel`
predicts with the same task runtime and decoding code the trial's evaluation used
(:mod:`tfcli.train.task_runtime`, :mod:`tfcli.model.decode`) and the same batching, so predicting the
validation inputs reproduces the trial's validation outputs.

``tfcli export --register NAME`` also logs the folder as an MLflow pyfunc model (a "models
from code" model, :mod:`tfcli.serving`) and registers a version with the alias ``best``.

The modules: :mod:`~tfcli.export.folder` (the folder's files and format, reading its config),
:mod:`~tfcli.export.choose` (which trial), :mod:`~tfcli.export.study_export` (writing the
folder), :mod:`~tfcli.export.model_card`, :mod:`~tfcli.export.registry` (MLflow) and
:mod:`~tfcli.export.loading` (loading and predicting). None imports torch, Ray or MLflow at
import time; those that read a study load on first use (see ``_ON_USE``).
"""

import importlib
from typing import Any

from tfcli.export.folder import (
    ARTIFACT_KEY,
    EXPORT_FILES,
    EXPORT_FORMAT,
    README_FILE,
    ExportError,
    find_export_folder,
    read_export_config,
)
from tfcli.export.loading import ExportedModel, inputs_from_model_input, load_export, read_inputs
from tfcli.export.model_card import model_card

#: Names whose modules read a study (the report's ranking, the baselines, the metrics): they load
#: on first use, so that ``tfcli predict``, which loads an export folder only, imports none of
#: that (sacrebleu, for one, writes a probe file into $TMPDIR when imported).
_ON_USE = {
    "choose_trial": "choose", "find_trial": "choose",
    "INPUT_COLUMNS": "registry", "register_export": "registry", "serving_module_path": "registry",
    "ExportResult": "study_export", "best_trial_where": "study_export", "export_config": "study_export",
    "export_study": "study_export",
}


def __getattr__(name: str) -> Any:
    module = _ON_USE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)

__all__ = [
    "ARTIFACT_KEY",
    "EXPORT_FILES",
    "EXPORT_FORMAT",
    "INPUT_COLUMNS",
    "README_FILE",
    "ExportError",
    "ExportResult",
    "ExportedModel",
    "best_trial_where",
    "choose_trial",
    "export_config",
    "export_study",
    "find_export_folder",
    "find_trial",
    "inputs_from_model_input",
    "load_export",
    "model_card",
    "read_export_config",
    "read_inputs",
    "register_export",
    "serving_module_path",
]
