"""The export folder: the files it holds, its format, and finding and reading one.

Reading is JSON only; the weights are loaded in :mod:`tfcli.export.loading`.
"""

from __future__ import annotations

from pathlib import Path

from tfcli.errors import ExportError
from tfcli.export.validate import MAX_CONFIG_BYTES, check_folder, check_regular_file, parse_json, read_bytes, short_repr, validate_export_config
from tfcli.train.checkpoint import CONFIG_FILE, MODEL_FILE, TOKENIZER_FILE

EXPORT_FORMAT = "tfcli-export/1"
README_FILE = "README.md"
EXPORT_FILES = (MODEL_FILE, CONFIG_FILE, TOKENIZER_FILE, README_FILE)
#: The key of the export folder among an MLflow pyfunc model's artifacts (see tfcli.serving).
ARTIFACT_KEY = "export"


def read_export_config(folder: str | Path) -> dict:
    """The checked ``config.json`` of an export folder; ExportError when ``folder`` is not an
    export, or is one that is damaged (see :mod:`tfcli.export.validate`). JSON only."""
    folder = Path(folder)
    if folder.exists() or folder.is_symlink():
        check_folder(folder)
    if not folder.is_dir():
        raise ExportError(f"SOURCE must be an export folder (written by `tfcli export`) or models:/NAME@ALIAS, but {folder} is not a folder")
    missing = [name for name in (CONFIG_FILE, MODEL_FILE, TOKENIZER_FILE) if not (folder / name).exists() and not (folder / name).is_symlink()]
    if missing:
        raise ExportError(
            f"SOURCE must be an export folder with {', '.join((CONFIG_FILE, MODEL_FILE, TOKENIZER_FILE))} "
            f"(written by `tfcli export`), but {folder} has no {', '.join(missing)}"
        )
    for name in EXPORT_FILES:
        if (folder / name).exists() or (folder / name).is_symlink():
            check_regular_file(folder / name)
    path = folder / CONFIG_FILE
    config = parse_json(path, read_bytes(path, MAX_CONFIG_BYTES))
    if not isinstance(config, dict) or config.get("format") != EXPORT_FORMAT:
        found = config.get("format") if isinstance(config, dict) else type(config).__name__
        hint = " (a training checkpoint: export it with `tfcli export`)" if found == "tfcli-checkpoint/1" else ""
        raise ExportError(f"{path} must have format {EXPORT_FORMAT!r}, but got {short_repr(found)}{hint}")
    return validate_export_config(path, config)


def find_export_folder(root: str | Path) -> Path:
    """The export folder inside a downloaded MLflow model (``artifacts/export``), or ``root``."""
    root = Path(root)
    for candidate in (root / "artifacts" / ARTIFACT_KEY, root):
        if (candidate / CONFIG_FILE).is_file():
            return candidate
    hits = sorted(p.parent for p in root.rglob(CONFIG_FILE) if (p.parent / MODEL_FILE).is_file())
    return hits[0] if hits else root
