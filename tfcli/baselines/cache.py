"""Baseline results kept on disk by a hash of the data and the settings that decide them.

``study start`` and ``tfcli baseline`` compute a study's baselines once per data set: the
results (with the valid split's per-example outputs) are written to
``$TFCLI_CACHE/baselines/<hash>.json`` (the tokenizers' cache folder, see
:func:`tfcli.data.cache.cache_root`). The hash covers every example of every split, the
task, the metric settings, the validation limit, the baselines' format and scikit-learn's
version, so a changed file or setting never reads an old entry.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import asdict
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Optional

from tfcli.baselines.results import BaselineResult
from tfcli.data.cache import cache_root
from tfcli.data.examples import Splits

log = logging.getLogger("tfcli.baselines")

#: Bump when a baseline or the cached layout changes, so old entries are not reused.
CACHE_FORMAT = 1


def _sklearn_version() -> str:
    try:
        return version("scikit-learn")
    except PackageNotFoundError:
        return "none"


def data_hash(task: str, splits: Splits, settings: dict[str, Any]) -> str:
    """A hash of ``splits`` (every example, in order) and everything else a result depends on."""
    h = hashlib.sha256()
    head = {"format": CACHE_FORMAT, "task": task, "settings": settings, "sklearn": _sklearn_version()}
    h.update(json.dumps(head, sort_keys=True, default=str).encode())
    for split, examples in splits:
        h.update(f"\n[{split}:{len(examples)}]".encode())
        for example in examples:
            data = json.dumps(asdict(example), sort_keys=True, ensure_ascii=False).encode("utf-8", "surrogatepass")
            h.update(f"\n{len(data)}:".encode())
            h.update(data)
    return h.hexdigest()


def cache_file(key: str, root: Optional[Path] = None) -> Path:
    return (root or cache_root()) / "baselines" / f"{key}.json"


def read_cached(path: Path) -> Optional[list[BaselineResult]]:
    """The results cached at ``path``, or None when there are none (or they are damaged)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return [
            BaselineResult(name=r["name"], split=r["split"], metrics={k: float(v) for k, v in r["metrics"].items()},
                           description=r.get("description", ""), outputs=list(r.get("outputs", [])))
            for r in raw["results"]
        ]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def write_cached(path: Path, results: list[BaselineResult]) -> None:
    """Write atomically (two drivers may race); a failure only warns, the results stand."""
    payload = {
        "format": CACHE_FORMAT,
        "results": [{**r.to_dict(), "metrics": dict(r.metrics), "outputs": r.outputs} for r in results],
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, ensure_ascii=False)
        os.replace(tmp, path)
    except (OSError, ValueError) as err:
        log.warning("could not write the baseline cache %s: %s", path, err)
