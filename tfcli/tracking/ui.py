"""``tfcli ui``: the ``mlflow server`` command line that serves a local store."""

from __future__ import annotations

from pathlib import Path

from tfcli.errors import StudyError
from tfcli.tracking.store import Tracking


def ui_command(tracking: Tracking, *, host: str, port: int, workers: int = 1) -> list[str]:
    """The ``mlflow server`` command line that serves the UI (and REST API) on the store.

    A local store serves its SQLite database with its artifact folder as both the default
    artifact root of new experiments and the destination of proxied artifact uploads.
    """
    import sys

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
    return command
