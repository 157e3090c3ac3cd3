"""Where studies live in Ray's storage: the one place a ``--storage`` value is resolved.

Start, resume and extend all go through :func:`resolve_storage`; a URI (``s3://...``,
``gs://...``, ``file:///...``, needed for multi-node clusters) is handed to Ray untouched,
anything else is a local folder made absolute.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.fs


def default_storage() -> str:
    """Where Ray keeps studies unless told otherwise: ``./mlruns/ray``, made absolute."""
    return str(Path("mlruns", "ray").resolve())


def is_uri(storage: str | None) -> bool:
    return bool(storage) and "://" in storage


def resolve_storage(storage: str | None) -> str:
    """An absolute folder, or a URI as given (less a trailing ``/``); None: the default."""
    if is_uri(storage):
        return storage.rstrip("/")
    return str(Path(storage or default_storage()).expanduser().resolve())


def experiment_path(name: str, storage: str | None = None) -> str:
    """The Tune experiment folder of a study: what resume needs."""
    return f"{resolve_storage(storage)}/{name}"


def experiment_names(storage: str) -> list[str]:
    """The names of the folders directly under ``storage`` (a folder or a URI); [] if none."""
    storage = resolve_storage(storage)
    if not is_uri(storage):
        root = Path(storage)
        return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []

    fs, root = pyarrow.fs.FileSystem.from_uri(storage)
    infos = fs.get_file_info(pyarrow.fs.FileSelector(root, allow_not_found=True))
    return sorted(i.base_name for i in infos if i.type == pyarrow.fs.FileType.Directory)
