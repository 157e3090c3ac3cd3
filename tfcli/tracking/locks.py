"""One driver per study, and one first open per store.

Two ``tfcli study start`` (or ``resume``) of the same study at once would write two parent
runs or drive one Ray state folder from two processes. For a local (SQLite) store a file lock
``<store>/.locks/<study>.lock`` is held for as long as a driver runs the study; the kernel
releases it when the process dies, even by SIGKILL, so a crash leaves no stale lock. The
first open of a local store (MLflow's migrations, which two processes must not run at once:
they leave ``_alembic_tmp_*`` tables behind) happens under ``<store>/.locks/store.lock``.
A server store has no shared file system: its drivers hold a lease on the study's parent run
instead (:mod:`tfcli.tracking.lease`), and a new study claims its name
(:mod:`tfcli.tracking.claims`).
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

from filelock import FileLock, Timeout

from tfcli.errors import StudyError
from tfcli.tracking.lease import DriverLease

LOCK_FOLDER = ".locks"
#: Seconds to wait for another process's first open of a new store (its migrations).
STORE_LOCK_TIMEOUT_S = 120


def _lock_folder(db: Optional[Path]) -> Optional[Path]:
    return None if db is None else db.parent / LOCK_FOLDER


def study_lock_path(db: Optional[Path], name: str) -> Optional[Path]:
    """The lock file of the study ``name`` beside the SQLite database ``db``; None without one."""
    folder = _lock_folder(db)
    if folder is None:
        return None
    return folder / (re.sub(r"[^A-Za-z0-9._-]", "_", name).strip(".") + ".lock")


def _held_elsewhere(name: str, path: Path) -> StudyError:
    return StudyError(
        f"study {name!r} is being run by another tfcli process (it holds {path}); "
        f"wait for it to end, or stop it (Ctrl-C) and then `tfcli study resume {name}`"
    )


@contextmanager
def study_lock(tracking, name: str) -> Iterator[Optional[DriverLease]]:
    """Hold the study's lock while the body runs; StudyError at once if another driver has it.

    A local store: the file lock. Any other store: a :class:`~tfcli.tracking.lease.DriverLease`
    on the study's parent run, yielded so that a new study's driver can put it on the parent
    run it creates (:meth:`~tfcli.tracking.lease.DriverLease.tags`, then ``attach``).
    """
    path = study_lock_path(tracking.sqlite_path, name)
    if path is None:
        lease = DriverLease(tracking.client(), name)
        lease.acquire()
        try:
            yield lease
        finally:
            lease.release()
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise _held_elsewhere(name, path) from None
    try:
        yield None
    finally:
        lock.release()


def refuse_if_locked(tracking, name: str) -> None:
    """StudyError now if another driver holds the study's lock (a check before the lock is
    taken, for messages that would otherwise point at a study that is running)."""
    if study_lock_path(tracking.sqlite_path, name) is None:
        DriverLease(tracking.client(), name).check()
        return
    with study_lock(tracking, name):
        pass


@contextmanager
def store_lock(db: Optional[Path], uri: str) -> Iterator[None]:
    """Hold the lock of the store at ``db`` (``uri``), waiting for another process's first open."""
    folder = _lock_folder(db)
    if folder is None:
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(folder / "store.lock"), timeout=STORE_LOCK_TIMEOUT_S)
    try:
        lock.acquire()
    except Timeout:
        raise StudyError(
            f"another process has held the store {uri} open for migration for over "
            f"{STORE_LOCK_TIMEOUT_S} s ({folder / 'store.lock'}); wait for it or stop it"
        ) from None
    try:
        yield
    finally:
        lock.release()
