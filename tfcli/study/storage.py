"""Where studies live in Ray's storage."""

from __future__ import annotations

from pathlib import Path


def default_storage() -> str:
    """Where Ray keeps studies unless told otherwise: ``./mlruns/ray``, made absolute."""
    return str(Path("mlruns", "ray").resolve())


def _storage_root(storage: str | None) -> str:
    """An absolute folder, or a URI (``s3://...``, needed for multi-node clusters) as given."""
    if storage and "://" in storage:
        return storage.rstrip("/")
    return str(Path(storage or default_storage()).expanduser().resolve())


def experiment_path(name: str, storage: str | None = None) -> str:
    """The Tune experiment folder of a study: what resume needs."""
    return f"{_storage_root(storage)}/{name}"
