"""A study survives SIGKILL and Ctrl-C: resume completes it without re-running finished trials."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.integration.conftest import store_client, study_runs, study_text

pytestmark = [pytest.mark.slow, pytest.mark.timeout(500)]


def spawn(project, *args):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "160"}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.Popen(
        [sys.executable, "-m", "tfcli", *args], cwd=project, env=env, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def wait_for(predicate, timeout: float, proc=None, every: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the study ended early:\n{proc.stdout.read()}")
        time.sleep(every)
    return False


def children_with(project, name, status):
    try:
        return [c for c in study_runs(project, name)[1] if c.info.status == status]
    except Exception:  # the experiment may not exist yet
        return []


def run_resume(project, name):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run(
        [sys.executable, "-m", "tfcli", "study", "resume", name], cwd=project, env=env,
        capture_output=True, text=True, timeout=400,
    )


def assert_no_duplicate_steps(project, children, metric="bleu", at_least=1):
    client = store_client(project)
    for child in children:
        steps = [m.step for m in client.get_metric_history(child.info.run_id, metric)]
        assert len(steps) == len(set(steps)) >= at_least, (child.data.tags["tfcli.trial_id"], steps)


def test_sigkill_then_resume(project):
    (project / "s.yaml").write_text(study_text("killed", samples=3, scheduler="{type: fifo}").replace("max_concurrent: 2", "max_concurrent: 1"))
    proc = spawn(project, "study", "start", "s.yaml")
    try:
        assert wait_for(lambda: children_with(project, "killed", "FINISHED"), 240, proc), "no trial finished in time"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finished_before = {c.data.tags["tfcli.trial_id"]: c for c in children_with(project, "killed", "FINISHED")}
    assert finished_before
    # Ray copies its staged search state to storage with a plain write: a kill during the copy
    # leaves it cut short (CI saw it empty). Cut it here, so that every run checks the repair.
    (search_state,) = (project / "mlruns" / "ray" / "killed").glob("basic-variant-state-*.json")  # a pickle, named .json by Tune
    search_state.write_bytes(search_state.read_bytes()[: search_state.stat().st_size // 2])

    resumed = run_resume(project, "killed")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"{search_state.name} was cut short when the driver stopped; put back from Ray's staged copy" in resumed.stderr
    parents, children = study_runs(project, "killed")
    assert len(parents) == 1 and len(children) == 3
    assert all(c.info.status == "FINISHED" for c in children)
    for trial_id, before in finished_before.items():
        after = next(c for c in children if c.data.tags["tfcli.trial_id"] == trial_id)
        assert after.info.run_id == before.info.run_id
        assert after.info.end_time == before.info.end_time, "a finished trial ran again"
    assert_no_duplicate_steps(project, children)


def wait_until_training(project, name, proc) -> None:
    """Until a running trial of ``name`` has logged an evaluation (so it has a checkpoint).

    The trials run 100 steps and evaluate every 10, so this holds for most of a trial; a
    shorter trial can finish between two polls on a loaded machine (CI saw it at 40 steps)."""
    client = store_client(project)

    def a_trial_is_training():
        return any(client.get_metric_history(c.info.run_id, "bleu") for c in children_with(project, name, "RUNNING"))

    assert wait_for(a_trial_is_training, 240, proc, every=0.3), "no trial reported in time"


def test_ctrl_c_stops_cleanly_then_resume(project):
    text = study_text("interrupted", steps=100, samples=2, scheduler="{type: fifo}", train_extra=", log_every: 4")
    (project / "s.yaml").write_text(text)
    proc = spawn(project, "study", "start", "s.yaml")
    try:
        wait_until_training(project, "interrupted", proc)
        os.kill(proc.pid, signal.SIGINT)
        started = time.monotonic()
        code = proc.wait(timeout=60)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    output = proc.stdout.read()
    assert took <= 30, took
    assert code != 0, output
    assert "tfcli study resume interrupted" in output
    killed = children_with(project, "interrupted", "KILLED")
    assert killed, [c.info.status for c in study_runs(project, "interrupted")[1]]

    resumed = run_resume(project, "interrupted")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    parents, children = study_runs(project, "interrupted")
    assert len(parents) == 1 and len(children) == 2
    assert all(c.info.status == "FINISHED" for c in children)
    assert_no_duplicate_steps(project, children)
    assert_no_duplicate_steps(project, children, "train_loss", at_least=100 // 4)


def test_defect7_double_ctrl_c_settles_mlflow_and_says_how_to_resume(project):
    (project / "s.yaml").write_text(study_text("twice", steps=100, samples=2, scheduler="{type: fifo}"))
    proc = spawn(project, "study", "start", "s.yaml")
    try:
        wait_until_training(project, "twice", proc)
        os.kill(proc.pid, signal.SIGINT)
        time.sleep(0.3)
        os.kill(proc.pid, signal.SIGINT)
        code = proc.wait(timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    output = proc.stdout.read()
    assert code == 130, output
    assert "tfcli study resume twice" in output, output
    parents, children = study_runs(project, "twice")
    assert [p.info.status for p in parents] == ["KILLED"], output
    assert children and "RUNNING" not in [c.info.status for c in children], [c.info.status for c in children]

    resumed = run_resume(project, "twice")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    parents, children = study_runs(project, "twice")
    assert len(parents) == 1 and len(children) == 2
    assert all(c.info.status == "FINISHED" for c in children)
    assert_no_duplicate_steps(project, children)
