"""Issue 25, acceptance 3: a study whose disk fills mid-study ends in one line, exit 1, with
no run left RUNNING, and plain ``resume`` completes it once the disk has room again.

The project (its MLflow store and Ray's storage, ``./mlruns/ray`` by default) lives on a
small tmpfs mounted by the test (root only, as here and in CI). Once the first trial has
logged a step, the test fills the disk to the last byte, as another program would; later it
grows the tmpfs (``mount -o remount,size=``) and resumes. Where mounting is not allowed, the
same study runs with its store's artifact folder made unwritable instead (a read-only store;
root writes to it anyway, so as root without mounting the test is skipped).
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.conftest import study_runs, study_text
from tfcli.tracking.disk_space import RESERVE_NAME

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

NAME = "fills"
SAMPLES = 2


def tfcli(project: Path, *args: str, timeout: float = 400) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("TFCLI_CRASH_AT", None)
    return subprocess.run(
        [sys.executable, "-m", "tfcli", *args], cwd=project, env=env, capture_output=True, text=True, timeout=timeout
    )


def spawn(project: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("TFCLI_CRASH_AT", None)
    return subprocess.Popen(
        [sys.executable, "-m", "tfcli", *args], cwd=project, env=env, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _mount(folder: Path, size: str) -> str | None:
    """Mount a tmpfs of ``size`` at ``folder``; None, or why it cannot be done here."""
    if shutil.which("mount") is None:
        return "no mount command"
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True, text=True)
    return None if done.returncode == 0 else (done.stderr.strip() or f"mount exited {done.returncode}")


@pytest.fixture
def small_disk(tmp_path, empty_store_db):
    """A project folder on a 48 MB tmpfs, with a fresh store; yields (folder, mounted)."""
    folder = tmp_path / "disk"
    folder.mkdir()
    refused = _mount(folder, "48m")
    try:
        (folder / "mlruns").mkdir()
        shutil.copy(empty_store_db, folder / "mlruns" / "mlflow.db")
        (folder / f"{NAME}.yaml").write_text(
            study_text(NAME, samples=SAMPLES, steps=60, scheduler="{type: fifo}").replace("max_concurrent: 2", "max_concurrent: 1")
        )
        yield folder, refused
    finally:
        if refused is None:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def fill(folder: Path) -> Path:
    """Fill the disk of ``folder`` to its last byte, as another program would."""
    filler = folder / "filler.bin"
    with open(filler, "ab", buffering=0) as handle:
        for chunk in (1 << 20, 1 << 12, 1 << 9):
            while True:
                try:
                    handle.write(b"\1" * chunk)
                except OSError as err:
                    assert err.errno == errno.ENOSPC, err
                    break
    return filler


def wait_for_a_logged_step(project: Path, proc: subprocess.Popen, timeout: float = 300) -> None:
    from tfcli.tracking import resolve_tracking, trial_records

    tracking = resolve_tracking(None, cwd=project)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
        try:  # the direct SQLite reader: a poll costs milliseconds
            records = trial_records(tracking, NAME, history=False)
        except Exception:  # noqa: BLE001 - the study may not exist yet
            continue
        if any(r.status.value == "RUNNING" and r.last_step for r in records):
            return
    raise AssertionError(f"no trial logged a step in time (exit {proc.poll()})")


def assert_no_run_running(project: Path) -> None:
    parents, children = study_runs(project, NAME)
    assert len(parents) == 1
    statuses = [r.info.status for r in [*parents, *children]]
    assert "RUNNING" not in statuses, statuses


def test_disk_full_mid_study_stops_in_one_line_and_resumes(small_disk):
    project, refused = small_disk
    if refused is not None and os.geteuid() == 0:
        pytest.skip(f"cannot mount a tmpfs here ({refused}), and root writes to an unwritable folder anyway")
    proc = spawn(project, "study", "start", f"{NAME}.yaml")
    try:
        wait_for_a_logged_step(project, proc)
        if refused is None:
            filler = fill(project)
        else:
            os.chmod(project / "mlruns" / "artifacts", 0o555)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
            proc.wait(timeout=30)
    text = out + err
    assert proc.returncode == 1, text
    assert "Traceback" not in text, text
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: the disk holding ") and f"tfcli study resume {NAME}" in last, text
    assert ("is full" if refused is None else "is read-only") in last, last
    assert sum(f"tfcli study resume {NAME}" in line for line in text.splitlines()) == 1, text
    assert len(err.strip().splitlines()) == 1, err

    if refused is None:  # room again: the tmpfs grows, the filler stays
        subprocess.run(["mount", "-o", "remount,size=256m", str(project)], check=True)
        assert not (project / "mlruns" / RESERVE_NAME).exists(), "the reserve goes when the study ends"
    else:
        os.chmod(project / "mlruns" / "artifacts", 0o755)
    assert_no_run_running(project)
    finished = {c.data.tags["tfcli.trial_id"]: (c.info.run_id, c.info.end_time) for c in study_runs(project, NAME)[1] if c.info.status == "FINISHED"}

    resumed = tfcli(project, "study", "resume", NAME)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    parents, children = study_runs(project, NAME)
    assert [p.info.status for p in parents] == ["FINISHED"]
    assert sorted(c.info.status for c in children) == ["FINISHED"] * SAMPLES, [c.info.status for c in children]
    for child in children:
        trial_id = child.data.tags["tfcli.trial_id"]
        if trial_id in finished:
            assert (child.info.run_id, child.info.end_time) == finished[trial_id], f"finished trial {trial_id} ran again"
    if refused is None:
        assert filler.exists()
