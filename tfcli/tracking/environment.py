"""Where a run was made, as tags: package versions, the git commit, the user, the Ray cluster."""

from __future__ import annotations

import getpass
import subprocess
from importlib import metadata
from typing import Optional

from tfcli.tracking.tags import (
    TAG_GIT_COMMIT,
    TAG_GIT_DIRTY,
    TAG_MLFLOW_GIT_COMMIT,
    TAG_MLFLOW_USER,
    TAG_VERSION_PREFIX,
)


def environment_tags() -> dict[str, str]:
    """Git commit and dirty flag of the cwd's repository (best effort), versions, user."""
    tags = {}
    for package in ("tfcli", "torch", "ray", "mlflow"):
        try:
            tags[TAG_VERSION_PREFIX + package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            tags[TAG_VERSION_PREFIX + package] = "not installed"
    commit, dirty = _git_state()
    if commit:
        tags[TAG_GIT_COMMIT] = commit
        tags[TAG_MLFLOW_GIT_COMMIT] = commit
        tags[TAG_GIT_DIRTY] = "true" if dirty else "false"
    try:
        tags[TAG_MLFLOW_USER] = getpass.getuser()
    except Exception:  # noqa: BLE001
        pass
    return tags


def _git_state() -> tuple[Optional[str], bool]:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
        return commit or None, bool(status)
    except (OSError, subprocess.SubprocessError):
        return None, False


def current_ray_address() -> str:
    try:
        import ray

        if ray.is_initialized():
            return str(ray.get_runtime_context().gcs_address)
    except Exception:  # noqa: BLE001
        pass
    return "local"
