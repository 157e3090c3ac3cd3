"""Recognising full and read-only disks, and the reserve of room (issue 25)."""

from __future__ import annotations

import errno
import sqlite3

from tfcli.tracking.disk_space import FULL, READ_ONLY, RESERVE_NAME, Reserve, disk_problem, text_problem


def test_full_and_read_only_disks_are_told_by_errno_and_by_text():
    assert disk_problem(OSError(errno.ENOSPC, "No space left on device")) == FULL
    assert disk_problem(OSError(errno.EROFS, "Read-only file system")) == READ_ONLY
    assert disk_problem(OSError("[Errno 28] Error writing bytes to file. Detail: [errno 28] No space left on device")) == FULL
    assert disk_problem(sqlite3.OperationalError("database or disk is full")) == FULL
    assert disk_problem(OSError(errno.ENOENT, "No such file or directory")) is None
    assert disk_problem(ValueError("bad value")) is None
    assert text_problem("Traceback ...\nOSError: [Errno 30] Read-only file system: '/x'") == READ_ONLY


def test_an_error_raised_from_a_full_disk_is_a_full_disk():
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as inner:
            raise RuntimeError("could not log the checkpoint") from inner
    except RuntimeError as outer:
        assert disk_problem(outer) == FULL


def test_a_reserve_holds_real_room_and_gives_it_back(tmp_path):
    reserve = Reserve(tmp_path)
    assert reserve.make() and reserve.held
    path = tmp_path / RESERVE_NAME
    size = path.stat().st_size
    assert size > 0 and path.stat().st_blocks * 512 >= size, "a sparse file reserves nothing"
    assert reserve.make(), "making it again keeps the one there"
    assert reserve.release() == size and not reserve.held
    assert reserve.release() == 0
