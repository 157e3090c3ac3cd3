"""tfcli's cache folder, shared by the trained tokenizers (``tokenizers/``), a study's encoded
data (``encoded/``, :mod:`tfcli.data.encoded_cache`) and the baselines' results
(``baselines/``): a module of its own, so that reading the baselines does not load Hugging
Face ``tokenizers``. Everything in it can be deleted; it is made again when needed."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """The tfcli cache folder: ``cache_dir``, else ``$TFCLI_CACHE``, else ``~/.cache/tfcli``."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("TFCLI_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "tfcli"


def write_atomically(path: Path, payload: bytes) -> None:
    """Write ``payload`` to a temporary file beside ``path``, then rename it over ``path``.

    Processes that race on one entry each write their own temporary file, and a reader sees
    either a whole old file or a whole new one. Raises OSError; the temporary file is removed.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
