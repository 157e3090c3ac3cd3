"""Full and read-only disks: recognising their errors, measuring room, and a reserve of room.

A write to a full disk fails in many voices: ``OSError`` with errno ``ENOSPC`` or ``EDQUOT``
(Python, pyarrow), ``EROFS`` for a read-only one, SQLite's "database or disk is full" (through
SQLAlchemy and MLflow, as text only). :func:`disk_problem` reads all of them, from an
exception (its chain included) or from the text a worker's error left behind.

:class:`Reserve` is the ballast databases keep: a file of preallocated room in a folder of the
store, made when a study starts and given back the moment the disk is found full, so the
closing writes (the runs' final status, Ray's experiment state) have room.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Optional

FULL = "full"
READ_ONLY = "read-only"

_ERRNOS = {errno.ENOSPC: FULL, errno.EDQUOT: FULL, errno.EROFS: READ_ONLY}
_TEXTS = (
    ("no space left on device", FULL),
    ("database or disk is full", FULL),
    ("disk quota exceeded", FULL),
    ("read-only file system", READ_ONLY),
    ("attempt to write a readonly database", READ_ONLY),
)

#: File name of the reserve in a store folder.
RESERVE_NAME = ".tfcli-disk-reserve"
#: The most room a reserve takes; a small disk gets a tenth of its size.
RESERVE_BYTES = 16 * 1024 * 1024
#: A watched folder with less room than this counts as full: the study stops before it is.
LOW_WATER_BYTES = 512 * 1024


def text_problem(text: str) -> Optional[str]:
    """:data:`FULL` or :data:`READ_ONLY` when ``text`` is a full or read-only disk's error message."""
    lowered = (text or "").lower()
    return next((kind for needle, kind in _TEXTS if needle in lowered), None)


def disk_problem(err: BaseException) -> Optional[str]:
    """:data:`FULL` or :data:`READ_ONLY` when ``err`` (or an exception it was raised from) is
    a full or read-only disk; None for anything else."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        kind = _ERRNOS.get(getattr(err, "errno", None)) or text_problem(str(err))
        if kind:
            return kind
        err = err.__cause__ or err.__context__
    return None


def free_bytes(folder: Path) -> Optional[int]:
    """Room left for an ordinary writer on the disk of ``folder``; None if it cannot be told."""
    try:
        stats = os.statvfs(folder)
    except OSError:
        return None
    return stats.f_bavail * stats.f_frsize


def is_read_only(folder: Path) -> bool:
    """The disk of ``folder`` is mounted read-only, or the folder cannot be written."""
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return True
    except OSError:
        return False
    return not os.access(folder, os.W_OK)


def reserve_size(folder: Path) -> int:
    """How much a reserve in ``folder`` holds: :data:`RESERVE_BYTES`, or a tenth of a small disk."""
    try:
        stats = os.statvfs(folder)
    except OSError:
        return 0
    return min(RESERVE_BYTES, stats.f_blocks * stats.f_frsize // 10)


class Reserve:
    """A file of preallocated room in ``folder`` (:data:`RESERVE_NAME`).

    ``make()`` (re)creates it when the disk has room for it and the low-water mark besides,
    ``release()`` deletes it, ``held`` says whether it is there. Neither raises: a disk that
    cannot hold a reserve runs without one.
    """

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.path = self.folder / RESERVE_NAME

    @property
    def held(self) -> bool:
        return self.path.is_file()

    def make(self) -> bool:
        size = reserve_size(self.folder)
        have = self.path.stat().st_size if self.held else 0
        if size <= 0:
            return False
        if have >= size:
            return True
        room = free_bytes(self.folder) or 0
        if room + have < size + LOW_WATER_BYTES:
            return False
        try:
            with open(self.path, "ab") as handle:
                _allocate(handle.fileno(), size)
        except OSError:
            self.release()
            return False
        return True

    def release(self) -> int:
        """Delete the reserve; the bytes it gave back (0 if there was none)."""
        try:
            size = self.path.stat().st_size
            self.path.unlink()
        except OSError:
            return 0
        return size


def _allocate(fd: int, size: int) -> None:
    """Give the file ``size`` bytes of real blocks (a sparse file would reserve nothing)."""
    try:
        os.posix_fallocate(fd, 0, size)
        return
    except (AttributeError, OSError) as err:
        if getattr(err, "errno", None) in (errno.ENOSPC, errno.EDQUOT):
            raise
    chunk = b"\0" * (1024 * 1024)
    os.lseek(fd, 0, os.SEEK_SET)
    for start in range(0, size, len(chunk)):
        os.write(fd, chunk[: min(len(chunk), size - start)])
    os.fsync(fd)
