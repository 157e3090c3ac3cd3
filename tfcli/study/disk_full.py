"""A full or read-only disk ends a study like a Ctrl-C, in one line, resumable (issue 25).

Without this, a store whose disk filled mid-study printed hundreds of tracebacks (MLflow's
failed writes, Ray's failed experiment-state saves, trials retried against the full disk),
left runs RUNNING and Ray's saved state truncated, so plain ``resume`` refused.

:class:`DiskGuard` is a driver-side Tune callback over the study's folders on disk (the
store's database and artifact folders, and Ray's storage when it is a folder):

- when the study starts it makes a :class:`~tfcli.tracking.disk_space.Reserve` on each of
  their disks: room set aside for closing the study;
- at every step of Tune's loop it looks at each disk (a ``statvfs``, microseconds): less
  than :data:`~tfcli.tracking.disk_space.LOW_WATER_BYTES` free, or read-only, and so does a
  failed write that MLflow's writer or Ray's state saving logged (their log lines are
  noticed and dropped, see :class:`_DiskErrorLogs`), or a trial whose error is a full disk;
- then it deletes the reserves and stops the study as a Ctrl-C does (it raises SIGINT in
  the driver, Tune's own way out): Tune stops the trials and saves its experiment state, the
  MLflow callback closes every run as KILLED, both with the room the reserve gave back;
- :meth:`DiskGuard.raise_if_stopped` then raises :class:`~tfcli.errors.DiskFullError`: one
  line naming the disk and ``tfcli study resume``, exit 1.

A trial whose own checkpoint write meets the full disk does not fail: :func:`hold_trial`
keeps it waiting for the driver to stop it, so it resumes from its last checkpoint instead
of being retried against the full disk or marked failed.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any, Optional

from tfcli.errors import DiskFullError
from tfcli.tracking.disk_space import FULL, LOW_WATER_BYTES, READ_ONLY, Reserve, disk_problem, free_bytes, is_read_only, text_problem
from tfcli.tracking.ray_trial import trial_error_text

#: How long a trial whose checkpoint met a full disk waits for the driver to stop it before
#: its error goes the usual way (a worker whose own disk is full, on another node).
HOLD_TRIAL_S = 120.0

#: Loggers whose handlers print what the study logs: the guard's filter sits on each of those
#: handlers, so a full-disk error logged anywhere below them (tfcli's MLflow writer, MLflow's
#: SQLAlchemy store, Ray Tune's syncer and experiment-state saving) is taken over.
WATCHED_LOGGERS = ("", "tfcli", "mlflow", "ray", "ray.tune", "ray.train", "ray.tune.tune")

#: How Tune's note on a SIGINT begins (``ray.tune.tune``, Ray 2.60).
_TUNE_STOPPING = "Stop signal received"


def hold_trial(err: BaseException) -> None:
    """On a Ray worker: when ``err`` is a full or read-only disk, wait for the driver to stop
    the study (see the module docstring); return at once for any other error."""
    if disk_problem(err) is not None:
        time.sleep(HOLD_TRIAL_S)


def study_folders(storage_path: str, callbacks: list) -> list[Path]:
    """The local folders a study writes to: the store of every callback that has a
    ``tracking`` (a server store has none on this machine), then Ray's storage (unless a
    URI). A disk's reserve goes in the first of its folders: the store's, where there is one."""
    folders: list = []
    for callback in callbacks:
        tracking = getattr(callback, "tracking", None)
        db = getattr(tracking, "sqlite_path", None)
        folders += [p for p in (db.parent if db else None, getattr(tracking, "artifact_root", None)) if p is not None]
    if "://" not in storage_path:
        folders.append(storage_path)
    return [Path(p) for p in folders]


def _existing(folder: Path) -> Path:
    """``folder`` or the nearest folder above it that exists (a store's folders come later)."""
    folder = Path(folder).resolve()
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    return folder


class _DiskErrorLogs(logging.Filter):
    """Drops log records that report a full or read-only disk, telling the guard instead:
    one line at the end says it all, not a traceback per failed write."""

    def __init__(self, guard: "DiskGuard"):
        super().__init__()
        self.guard = guard

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.guard.problem is not None and message.startswith(_TUNE_STOPPING):
            return False  # Tune's note on the SIGINT the guard raised: the one line says it
        kind = text_problem(message)
        if kind is None and record.exc_info and record.exc_info[1] is not None:
            kind = disk_problem(record.exc_info[1])
        if kind is None:
            return True
        self.guard.notice(kind)
        return False


class DiskGuard:
    """See the module docstring. ``folders``: where the study writes; ``name``: the study
    to resume. A plain class; :func:`guard_class` joins it with Ray's ``Callback``."""

    def __init__(self, folders: list[Path], name: str):
        self.name = name
        self.folders = list(dict.fromkeys(_existing(f) for f in folders))
        by_disk: dict[int, Path] = {}
        for folder in self.folders:
            try:
                by_disk.setdefault(os.stat(folder).st_dev, folder)
            except OSError:
                continue
        self.disks = list(by_disk.values())  # one folder per disk: room is measured and reserved per disk
        self.reserves = [Reserve(f) for f in self.disks]
        self.problem: Optional[tuple[str, Path]] = None
        self._noticed: Optional[str] = None
        self._filter = _DiskErrorLogs(self)
        self._handlers: set[logging.Handler] = set()

    # -- Tune hooks ---------------------------------------------------------------------

    def setup(self, **info: Any) -> None:
        for reserve in self.reserves:
            reserve.make()
        self._handlers = {h for name in WATCHED_LOGGERS for h in logging.getLogger(name).handlers}
        if logging.lastResort is not None:  # what prints a warning where no handler is set up
            self._handlers.add(logging.lastResort)
        for handler in self._handlers:
            handler.addFilter(self._filter)

    def on_step_end(self, iteration: int = 0, trials: Any = None, **info: Any) -> None:
        self.check()

    def on_trial_error(self, iteration: int = 0, trials: Any = None, trial: Any = None, **info: Any) -> None:
        self._trial_failed(trial)

    def on_trial_recover(self, iteration: int = 0, trials: Any = None, trial: Any = None, **info: Any) -> None:
        self._trial_failed(trial)

    # -- the rest -----------------------------------------------------------------------

    def notice(self, kind: str) -> None:
        """A write failed for a full or read-only disk (any thread); the next step stops the study."""
        self._noticed = self._noticed or kind

    def check(self) -> None:
        """Stop the study if a disk is full or read-only (see the module docstring)."""
        if self.problem is not None:
            return
        problem = self._measure()
        if problem is None and self._noticed is not None:
            problem = (self._noticed, self._fullest())
        if problem is not None:
            self._stop(problem)

    def close(self) -> None:
        """After the study: the log filters come off and the reserves go (room is the user's)."""
        for handler in self._handlers:
            handler.removeFilter(self._filter)
        for reserve in self.reserves:
            reserve.release()

    def raise_if_stopped(self, lost_work: list[str] = ()) -> None:
        """Raise :class:`DiskFullError` (one line) if the study was stopped for a disk."""
        if self.problem is None:
            return
        kind, folder = self.problem
        if kind == FULL:
            what, fix = f"the disk holding {folder} is full", "free some space on it"
        else:
            what, fix = f"the disk holding {folder} is read-only (or the folder cannot be written)", "make it writable"
        closed = f"but {len(lost_work)} write(s) to MLflow were lost" if lost_work else "and its runs are closed"
        raise DiskFullError(
            f"{what}: the study stopped {closed}; {fix}, then continue with: tfcli study resume {self.name}"
        )

    def _measure(self) -> Optional[tuple[str, Path]]:
        for folder in self.folders:
            if is_read_only(folder):
                return (READ_ONLY, folder)
        for folder in self.disks:
            room = free_bytes(folder)
            if room is not None and room < LOW_WATER_BYTES:
                return (FULL, folder)
        return None

    def _fullest(self) -> Path:
        return min(self.disks, key=lambda f: free_bytes(f) or 0) if self.disks else Path.cwd()

    def _trial_failed(self, trial: Any) -> None:
        kind = text_problem(trial_error_text(trial)) if trial is not None else None
        if kind is not None:
            self.notice(kind)
            self.check()

    def _stop(self, problem: tuple[str, Path]) -> None:
        self.problem = problem
        for reserve in self.reserves:
            reserve.release()
        if threading.current_thread() is threading.main_thread():
            signal.raise_signal(signal.SIGINT)  # Tune's Ctrl-C: stop, save, settle
        else:  # pragma: no cover - Tune runs its loop, and so its callbacks, in the caller's thread
            os.kill(os.getpid(), signal.SIGINT)


_GUARD_CLASS = None


def guard_class() -> type:
    """:class:`DiskGuard` as a Tune callback (built lazily: this module imports no Ray)."""
    global _GUARD_CLASS
    if _GUARD_CLASS is None:
        from ray.tune import Callback

        class StudyDiskGuard(DiskGuard, Callback):
            pass

        _GUARD_CLASS = StudyDiskGuard
    return _GUARD_CLASS


def disk_guard(storage_path: str, callbacks: list, name: str) -> DiskGuard:
    """The guard of a study that writes to ``storage_path`` and the callbacks' stores."""
    return guard_class()(study_folders(storage_path, callbacks), name)
