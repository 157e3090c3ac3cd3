"""The export folder: the files it holds, its format, and finding and reading one.

Reading is JSON only; the weights are loaded in :mod:`tfcli.export.loading`.
"""

from __future__ import annotations

import json
from pathlib import Path

from tfcli.errors import UserError
from tfcli.train.checkpoint import CONFIG_FILE, MODEL_FILE, TOKENIZER_FILE

EXPORT_FORMAT = "tfcli-export/1"
README_FILE = "README.md"
EXPORT_FILES = (MODEL_FILE, CONFIG_FILE, TOKENIZER_FILE, README_FILE)
#: The key of the export folder among an MLflow pyfunc model's artifacts (see tfcli.serving).
ARTIFACT_KEY = "export"


class ExportError(UserError):
    """A study, trial or folder that cannot be exported or loaded."""


def read_export_config(folder: str | Path) -> dict:
    """The ``config.json`` of an export folder; ExportError when ``folder`` is not an export."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ExportError(f"SOURCE must be an export folder (written by `tfcli export`) or models:/NAME@ALIAS, but {folder} is not a folder")
    missing = [name for name in (CONFIG_FILE, MODEL_FILE, TOKENIZER_FILE) if not (folder / name).is_file()]
    if missing:
        raise ExportError(
            f"SOURCE must be an export folder with {', '.join((CONFIG_FILE, MODEL_FILE, TOKENIZER_FILE))} "
            f"(written by `tfcli export`), but {folder} has no {', '.join(missing)}"
        )
    try:
        config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ExportError(f"{folder / CONFIG_FILE} must be JSON, but it does not parse ({err})") from None
    if not isinstance(config, dict) or config.get("format") != EXPORT_FORMAT:
        found = config.get("format") if isinstance(config, dict) else type(config).__name__
        hint = " (a training checkpoint: export it with `tfcli export`)" if found == "tfcli-checkpoint/1" else ""
        raise ExportError(f"{folder / CONFIG_FILE} must have format {EXPORT_FORMAT!r}, but got {found!r}{hint}")
    return config


def find_export_folder(root: str | Path) -> Path:
    """The export folder inside a downloaded MLflow model (``artifacts/export``), or ``root``."""
    root = Path(root)
    for candidate in (root / "artifacts" / ARTIFACT_KEY, root):
        if (candidate / CONFIG_FILE).is_file():
            return candidate
    hits = sorted(p.parent for p in root.rglob(CONFIG_FILE) if (p.parent / MODEL_FILE).is_file())
    return hits[0] if hits else root
