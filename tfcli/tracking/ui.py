"""``tfcli ui``: the ``mlflow server`` command line that serves a local store."""

from __future__ import annotations

import sys
from pathlib import Path

from tfcli.errors import StudyError
from tfcli.tracking.store import Tracking


def study_url(base: str, experiment_id: str) -> str:
    """The runs view of a study's experiment in the MLflow UI.

    MLflow 3.17 opens a bare ``#/experiments/ID`` in its GenAI mode (traces, no runs); the
    ``runs`` path with ``workflowType=machine_learning`` lands on the table of runs.
    """
    return f"{base}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"


def ui_command(tracking: Tracking, *, host: str, port: int, workers: int = 1, verbose: bool = False) -> list[str]:
    """The ``mlflow server`` command line that serves the UI (and REST API) on the store.

    A local store serves its SQLite database with its artifact folder as both the default
    artifact root of new experiments and the destination of proxied artifact uploads. Unless
    ``verbose``, uvicorn keeps its access log (a line per request) and its info lines to itself.
    """
    if tracking.is_remote:
        raise StudyError(
            f"`tfcli ui` serves a local store, but the tracking URI is the server {tracking.uri}; "
            "open it in a browser instead"
        )
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", tracking.uri]
    if tracking.artifact_root is not None:
        root = Path(tracking.artifact_root).absolute()
        command += ["--default-artifact-root", str(root), "--artifacts-destination", str(root)]
    command += ["--host", host, "--port", str(int(port)), "--workers", str(int(workers))]
    if not verbose:
        command += ["--uvicorn-opts", "--no-access-log --log-level warning"]
    return command
