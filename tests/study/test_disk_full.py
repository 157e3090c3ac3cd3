"""The driver's guard against full disks, without Ray (issue 25; the whole study:
tests/integration/test_full_disk.py)."""

from __future__ import annotations

import errno
import logging
import signal
import subprocess
import time

import pytest

from tfcli.errors import DiskFullError
from tfcli.study import disk_full
from tfcli.study.disk_full import DiskGuard, hold_trial
from tfcli.tracking.disk_space import RESERVE_NAME


@pytest.fixture
def sigints():
    seen = []
    previous = signal.signal(signal.SIGINT, lambda *_: seen.append(time.monotonic()))
    yield seen
    signal.signal(signal.SIGINT, previous)


def test_a_logged_full_disk_error_is_taken_over_and_stops_the_study_once(tmp_path, sigints, caplog):
    caplog.set_level(logging.WARNING)
    guard = DiskGuard([tmp_path, tmp_path / "not-yet"], "s1")
    assert guard.folders == guard.disks == [tmp_path.resolve()], "a folder not made yet is watched through its parent"
    guard.setup()
    try:
        assert (tmp_path / RESERVE_NAME).is_file()
        guard.check()
        assert sigints == [] and guard.problem is None, "a disk with room stops nothing"
        logging.getLogger("tfcli.test.guard").warning("MLflow: log_batch failed: database or disk is full")
        assert "disk is full" not in caplog.text, "the failed write is not printed"
        logging.getLogger("tfcli.test.guard").warning("an unrelated warning")
        assert "unrelated" in caplog.text
        guard.check()
        guard.check()
        assert len(sigints) == 1, "stopped like one Ctrl-C"
        assert not (tmp_path / RESERVE_NAME).exists(), "the reserve is given back for the closing writes"
    finally:
        guard.close()
    logging.getLogger("tfcli.test.guard").warning("another warning: No space left on device")
    assert "No space left" in caplog.text, "the filter comes off with the study"
    with pytest.raises(DiskFullError) as raised:
        guard.raise_if_stopped(["a metric"])
    line = str(raised.value)
    assert raised.value.exit_code == 1 and "\n" not in line
    assert f"the disk holding {tmp_path.resolve()} is full" in line and line.endswith("tfcli study resume s1"), line


def test_a_study_with_room_ends_without_the_reserve(tmp_path, sigints):
    guard = DiskGuard([tmp_path], "s1")
    guard.setup()
    guard.check()
    guard.close()
    guard.raise_if_stopped([])
    assert not (tmp_path / RESERVE_NAME).exists() and sigints == []


def test_only_a_full_disk_holds_a_failing_trial(monkeypatch):
    monkeypatch.setattr(disk_full, "HOLD_TRIAL_S", 0.3)
    start = time.monotonic()
    hold_trial(ValueError("a bug"))
    assert time.monotonic() - start < 0.2
    hold_trial(OSError(errno.ENOSPC, "No space left on device"))
    assert time.monotonic() - start >= 0.3


def test_a_read_only_disk_stops_the_study(tmp_path, sigints):
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        guard = DiskGuard([folder], "s1")
        guard.setup()
        guard.check()
        assert guard.problem is None
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        guard.check()
        assert len(sigints) == 1 and guard.problem[0] == "read-only"
        guard.close()
        with pytest.raises(DiskFullError, match=f"the disk holding {folder.resolve()} is read-only"):
            guard.raise_if_stopped([])
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)
