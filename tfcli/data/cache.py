"""tfcli's cache folder, shared by the trained tokenizers (``tokenizers/``) and the baselines'
results (``baselines/``): a module of its own, so that reading the baselines does not load
Hugging Face ``tokenizers``."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """The tfcli cache folder: ``cache_dir``, else ``$TFCLI_CACHE``, else ``~/.cache/tfcli``."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("TFCLI_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "tfcli"
