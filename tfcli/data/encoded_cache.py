"""A study's encoded splits, made once and shared by its trials: in memory, then on local disk.

The key hashes the data files' stamps (resolved path, size, modification time in ns, inode;
a ``stat``, not a read), every data setting, the effective maximum lengths, the version of
Hugging Face ``tokenizers`` and the source of the modules that read and encode data. Stamps
rather than a hash of the contents: a warm trial opens no data file, whatever the corpus size
(a content hash reads every byte in every trial: little for megabytes, seconds for gigabytes
or a network filesystem). The known gap of stamps, a file rewritten to the same size within
one tick of the filesystem's clock, is closed as git closes it: data files modified less than
:data:`RACY_S` seconds ago (or dated in the future) are not cached, so an entry never
describes a file that may still change unseen.

Layers: a reused trial process finds the last entries in memory; other processes on the
machine read ``<cache>/encoded/<key>.safetensors`` (:mod:`tfcli.data.encoded_store`; the
cache folder is :func:`tfcli.data.cache.cache_root`). Trials that start together build under
a file lock, so one builds and the others read its result; the file is written to a temporary
name and renamed, so a reader never sees half of it. A damaged entry is logged, rebuilt and
overwritten, never trusted. Built-in sets are generated in process, so they are kept in
memory only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import tokenizers
from filelock import FileLock, Timeout

from tfcli.data import encode, encoded_store, examples, files, readers, tokenizer
from tfcli.data.cache import cache_root, write_atomically
from tfcli.data.encoded_store import DamagedEntry, EncodedBundle, dumps, read

log = logging.getLogger("tfcli.data")

#: Data files modified more recently than this are not cached (see the module docstring).
RACY_S = 2.0
#: How long a trial waits for another one building the same entry before building it too.
LOCK_TIMEOUT_S = 600.0
#: Entries a process keeps in memory (a reused trial process needs one).
MEMORY_ENTRIES = 2
#: The modules whose code decides the encoded data: a change to any of them is a new key.
_CODE_MODULES = (files, readers, encode, examples, tokenizer, encoded_store)
FILE_KEYS = ("train", "valid", "test")

_memory: OrderedDict[str, EncodedBundle] = OrderedDict()


@lru_cache(maxsize=1)
def _code_hash() -> str:
    h = hashlib.sha256()
    for module in _CODE_MODULES:
        h.update(Path(module.__file__).read_bytes())
    return h.hexdigest()


def _stamp(path: str) -> dict | None:
    """The file's stamp, or None when it is missing or may still change unseen (see RACY_S)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if time.time_ns() - st.st_mtime_ns < RACY_S * 1e9:
        return None
    return {"path": os.path.realpath(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino}


def entry_key(source: str | dict, settings: dict[str, Any]) -> tuple[str, bool] | None:
    """``(key, on_disk)`` for data ``source`` encoded with ``settings``; None when not cacheable.

    ``source`` is ``builtin:NAME`` (kept in memory only) or the file mapping of
    :func:`tfcli.train.prepare.data_source` (paths already resolved).
    """
    head: dict[str, Any] = {
        "tokenizers": tokenizers.__version__,
        "code": _code_hash(),
        "settings": settings,
    }
    if isinstance(source, str):
        head["source"] = source
        on_disk = False
    else:
        stamps = {}
        for split in FILE_KEYS:
            if source.get(split):
                stamp = _stamp(str(source[split]))
                if stamp is None:
                    return None
                stamps[split] = stamp
        head["source"] = {**{k: v for k, v in source.items() if k not in FILE_KEYS}, "files": stamps}
        on_disk = True
    blob = json.dumps(head, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest(), on_disk


def entry_path(key: str, cache_dir: str | os.PathLike | None = None) -> Path:
    return cache_root(cache_dir) / "encoded" / f"{key}.safetensors"


def forget() -> None:
    """Drop the entries this process keeps in memory (the disk entries stay)."""
    _memory.clear()


def _remember(key: str, bundle: EncodedBundle) -> EncodedBundle:
    _memory[key] = bundle
    _memory.move_to_end(key)
    while len(_memory) > MEMORY_ENTRIES:
        _memory.popitem(last=False)
    return bundle


def _read_entry(path: Path, key: str) -> EncodedBundle | None:
    if not path.is_file():
        return None
    try:
        return read(path, key)
    except (OSError, DamagedEntry) as err:
        log.warning("ignoring damaged encoded-data cache entry %s (%s); rebuilding it", path, err)
        return None


def _write_entry(path: Path, key: str, bundle: EncodedBundle) -> None:
    """Write the entry atomically (see :func:`write_atomically`); a failure only warns."""
    try:
        write_atomically(path, dumps(bundle, key))
    except (OSError, ValueError) as err:
        log.warning("could not write the encoded-data cache %s: %s", path, err)


def _from_disk_or_build(path: Path, key: str, build: Callable[[], EncodedBundle]) -> EncodedBundle:
    cached = _read_entry(path, key)
    if cached is not None:
        return cached
    bundle = build()
    _write_entry(path, key, bundle)
    return bundle


def cached_bundle(
    source: str | dict,
    settings: dict[str, Any],
    build: Callable[[], EncodedBundle],
    *,
    cache_dir: str | os.PathLike | None = None,
) -> EncodedBundle:
    """The encoded data for ``source`` and ``settings``: from memory, from disk, else ``build()``."""
    found = entry_key(source, settings)
    if found is None:
        return build()
    key, on_disk = found
    if key in _memory:
        _memory.move_to_end(key)
        return _memory[key]
    if not on_disk:
        return _remember(key, build())
    path = entry_path(key, cache_dir)
    lock = _acquire(path)
    try:
        return _remember(key, _from_disk_or_build(path, key, build))
    finally:
        if lock is not None:
            lock.release()


def _acquire(path: Path) -> FileLock | None:
    """The entry's build lock, held; None (build without it) when it cannot be had in time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(path.with_suffix(".lock")), timeout=LOCK_TIMEOUT_S)
        lock.acquire()
        return lock
    except (OSError, Timeout) as err:
        log.warning("building the encoded data without the cache lock (%s)", err)
        return None
