"""SIGTERM (SLURM's time limit, `timeout`, `kill PID`, `docker stop`, systemd) stops a study as
Ctrl-C does: trials killed and recorded as killed, the resume line, exit 143 within SLURM's
default 30 s grace, and `resume` finishes the study without re-running a trial."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.integration.conftest import study_runs, study_text
from tests.integration.test_interrupts import assert_no_duplicate_steps, run_resume, spawn, wait_until_training

pytestmark = [pytest.mark.slow, pytest.mark.timeout(500)]

GRACE_S = 30  # SLURM's default KillWait: SIGKILL follows SIGTERM after it


def terminate(project, name, signal_to):
    """Start study ``name``, send SIGTERM with ``signal_to(pid)`` while a trial trains; the output.

    Asserts exit 143 within :data:`GRACE_S`, the resume line, and no run RUNNING 5 s later."""
    (project / "s.yaml").write_text(study_text(name, steps=100, samples=2, scheduler="{type: fifo}", train_extra=", log_every: 4"))
    proc = spawn(project, "study", "start", "s.yaml")
    try:
        wait_until_training(project, name, proc)
        running = {c.info.run_id for c in study_runs(project, name)[1]}
        signal_to(proc.pid)
        sent = time.monotonic()
        code = proc.wait(timeout=GRACE_S + 30)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    output = proc.stdout.read()
    assert code == 143, output
    assert took <= GRACE_S, (took, output)
    assert f"continue with: tfcli study resume {name}" in output, output
    time.sleep(5)
    parents, children = study_runs(project, name)
    statuses = [r.info.status for r in parents + children]
    assert "RUNNING" not in statuses, (statuses, output)
    assert [p.info.status for p in parents] == ["KILLED"], output
    killed = [c for c in children if c.info.status == "KILLED"]
    assert killed, output
    assert all(c.data.tags.get("tfcli.state") == "killed" for c in killed), [c.data.tags for c in killed]
    return running, output


def test_sigterm_to_the_process_group_then_resume(project):
    before, _ = terminate(project, "termed", lambda pid: os.killpg(pid, signal.SIGTERM))

    resumed = run_resume(project, "termed")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    parents, children = study_runs(project, "termed")
    assert len(parents) == 1 and len(children) == 2
    assert all(c.info.status == "FINISHED" for c in children)
    assert before <= {c.info.run_id for c in children}, "a trial started over in a new run"
    assert_no_duplicate_steps(project, children)
    assert_no_duplicate_steps(project, children, "train_loss", at_least=100 // 4)


def test_sigterm_to_the_driver_alone(project):
    terminate(project, "termed-driver", lambda pid: os.kill(pid, signal.SIGTERM))
