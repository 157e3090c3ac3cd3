"""Logged and registered models: ``tfcli export --register`` logs one, ``tfcli predict`` fetches one."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

from tfcli.errors import StudyError
from tfcli.tracking.artifacts import no_progress_bars
from tfcli.tracking.mlflow_private import fluent_uris, restore_fluent_uris
from tfcli.tracking.store import Tracking, quiet_mlflow_logs
from tfcli.tracking.tags import MAX_PARAM_VALUE, MAX_TAG_VALUE
from tfcli.tracking.values import one_line, param_value, truncate


@dataclass(frozen=True)
class RegisteredModel:
    """What :func:`log_pyfunc_model` logged and registered."""

    name: str
    version: str
    alias: Optional[str]
    model_id: str
    model_uri: str  # models:/<model_id>
    registered_uri: str  # models:/NAME@alias, or models:/NAME/VERSION without an alias


def log_pyfunc_model(
    tracking: Tracking,
    *,
    code_path: str | Path,
    artifacts: Mapping[str, str],
    registered_model_name: str,
    experiment_id: str,
    source_run_id: Optional[str],
    input_columns: list[str],
    params: Optional[Mapping[str, Any]] = None,
    tags: Optional[Mapping[str, Any]] = None,
    pip_requirements: Optional[list[str]] = None,
    alias: Optional[str] = "best",
    name: str = "model",
) -> RegisteredModel:
    """Log a "models from code" pyfunc model and register a version of it under ``alias``.

    ``code_path`` is the Python file that defines the model and calls
    ``mlflow.models.set_model``: MLflow stores the file itself, never a pickle, and loads the
    model by running it. ``artifacts`` are local files or folders copied with the model (the
    file calls ``context.artifacts[key]``). The model is a LoggedModel of the experiment
    ``experiment_id`` whose source run is ``source_run_id`` (the trial), created without
    reopening that run, so its status and end time stay as they were. Its signature: string
    columns ``input_columns`` in, one string column out, with the optional params
    ``beam_size`` and ``batch_size`` (0: the model's own setting).
    """
    client = tracking.client()
    with _fluent_store(tracking), no_progress_bars():
        logged = client.create_logged_model(
            experiment_id=experiment_id,
            name=name,
            source_run_id=source_run_id,
            params={k: truncate(param_value(v), MAX_PARAM_VALUE) for k, v in (params or {}).items()},
            tags={k: truncate(str(v), MAX_TAG_VALUE) for k, v in (tags or {}).items()},
        )
        info = _log_code_model(
            name=name,
            python_model=str(code_path),
            artifacts=dict(artifacts),
            signature=_signature(input_columns),
            pip_requirements=pip_requirements,
            model_id=logged.model_id,
            registered_model_name=registered_model_name,
            await_registration_for=60,
        )
        version = str(info.registered_model_version)
        if alias:
            client.set_registered_model_alias(registered_model_name, alias, version)
    return RegisteredModel(
        name=registered_model_name,
        version=version,
        alias=alias,
        model_id=logged.model_id,
        model_uri=f"models:/{logged.model_id}",
        registered_uri=f"models:/{registered_model_name}@{alias}" if alias else f"models:/{registered_model_name}/{version}",
    )


def _signature(input_columns: list[str]):
    """String columns ``input_columns`` in, one string column out; the optional params
    ``beam_size`` and ``batch_size`` (0: the model's own setting)."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

    return ModelSignature(
        inputs=Schema([ColSpec("string", column) for column in input_columns]),
        outputs=Schema([ColSpec("string", "prediction")]),
        params=ParamSchema([ParamSpec("beam_size", "long", 0), ParamSpec("batch_size", "long", 0)]),
    )


def _log_code_model(**kwargs: Any):
    """``mlflow.pyfunc.log_model(**kwargs)``, without its warning that no input example was
    given (the signature is)."""
    import mlflow

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*input example.*", category=UserWarning)
        return mlflow.pyfunc.log_model(**kwargs)


def download_model(tracking: Tracking, model_uri: str, dst: str | Path) -> Path:
    """Download a model's files (``models:/NAME@alias``, ``models:/NAME/VERSION``, ...) to ``dst``.

    Only files are fetched; nothing is loaded or run. Raises :class:`StudyError` in one line
    when the store has no such model.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    Path(dst).mkdir(parents=True, exist_ok=True)
    with _fluent_store(tracking), no_progress_bars():
        try:
            return Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=str(dst)))
        except (MlflowException, OSError) as err:
            raise StudyError(
                f"the model must be registered in {tracking.uri}, but {model_uri} could not be "
                f"fetched: {one_line(getattr(err, 'message', err))}"
            ) from None


class _fluent_store:
    """Point MLflow's fluent API (tracking and registry) at ``tracking`` for a ``with`` block.

    MLflow keeps both URIs in module globals and in environment variables; both are put back
    on exit, so the rest of the process (and its subprocesses) sees what it saw before.
    """

    def __init__(self, tracking: Tracking):
        self.tracking = tracking

    def __enter__(self) -> "_fluent_store":
        import mlflow

        quiet_mlflow_logs()
        self._saved = (
            *fluent_uris(),
            os.environ.get("MLFLOW_TRACKING_URI"),
            os.environ.get("MLFLOW_REGISTRY_URI"),
        )
        mlflow.set_tracking_uri(self.tracking.uri)
        mlflow.set_registry_uri(self.tracking.uri)
        return self

    def __exit__(self, *exc: Any) -> bool:
        tracking_uri, registry_uri, env_tracking, env_registry = self._saved
        restore_fluent_uris(tracking_uri, registry_uri)
        for key, value in (("MLFLOW_TRACKING_URI", env_tracking), ("MLFLOW_REGISTRY_URI", env_registry)):
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        return False
