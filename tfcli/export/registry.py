"""Registering an export in MLflow as a "models from code" pyfunc model (:mod:`tfcli.serving`)."""

from __future__ import annotations

import shutil
import tempfile
from importlib import metadata
from pathlib import Path

from tfcli import tracking as tr
from tfcli.export.folder import ARTIFACT_KEY, EXPORT_FILES, read_export_config

#: The pyfunc model's input columns per task.
INPUT_COLUMNS = {
    "translation": ["text"],
    "summarization": ["text"],
    "classification": ["text"],
    "qa": ["context", "question"],
}


def serving_module_path() -> Path:
    """The file of :mod:`tfcli.serving` (not imported here: importing it registers a model)."""
    return Path(__file__).parents[1] / "serving.py"


def _requirements() -> list[str]:
    pins = []
    for package in ("tfcli", "mlflow", "torch", "tokenizers", "safetensors", "sacrebleu", "pydantic", "numpy", "pandas"):
        try:
            pins.append(f"{package}=={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            continue
    return pins


def register_export(tracking, folder: str | Path, name: str, *, alias: str = "best"):
    """Log the export ``folder`` as an MLflow pyfunc model and register it as ``name@alias``.

    The model is "models from code": MLflow stores :mod:`tfcli.serving` as a file and the
    export folder as artifacts, and loads it by running that file, never by unpickling.
    Returns :class:`tfcli.tracking.RegisteredModel`.
    """
    folder = Path(folder)
    config = read_export_config(folder)
    p = config["provenance"]
    experiment_id = p.get("experiment_id")
    if not experiment_id:
        experiment_id = tr.ensure_experiment(tracking, p["study"])
    with tempfile.TemporaryDirectory(prefix="tfcli-register-") as tmp:
        # Staged under the artifact key, so the model always holds artifacts/export/.
        staged = Path(tmp) / ARTIFACT_KEY
        staged.mkdir()
        for file in EXPORT_FILES:
            if (folder / file).is_file():
                shutil.copyfile(folder / file, staged / file)
        return _log_export(tracking, staged, config, name, alias, experiment_id)


def _log_export(tracking, staged: Path, config: dict, registered_name: str, alias: str, experiment_id: str):
    p = config["provenance"]
    return tr.log_pyfunc_model(
        tracking,
        code_path=serving_module_path(),
        artifacts={ARTIFACT_KEY: str(staged)},
        registered_model_name=registered_name,
        experiment_id=experiment_id,
        source_run_id=p.get("run_id"),
        input_columns=INPUT_COLUMNS[config["task"]],
        params={k: v for k, v in config["hyperparameters"].items()},
        tags={
            "tfcli.study_name": p["study"],
            "tfcli.study_id": p["study_id"],
            "tfcli.trial_id": p["trial_id"],
            tr.TAG_EXPORT_SOURCE_RUN: p["run_id"],
            "tfcli.task": config["task"],
            "tfcli.step": p["step"],
        },
        pip_requirements=_requirements(),
        alias=alias,
    )
