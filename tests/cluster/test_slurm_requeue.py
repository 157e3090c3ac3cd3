"""The sbatch script of ``tfcli cluster slurm`` near the time limit: SLURM signals the batch
script alone (``--signal=B:TERM@...``); it passes SIGTERM on to the study, waits for it, stops
Ray and requeues the job, whose next run resumes the study. Run with the stand-ins of
test_slurm, and a stand-in study that runs until SIGTERM and exits 143 as the real one does."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

from tests.cluster.test_slurm import STAND_INS, write_script

pytestmark = pytest.mark.timeout(120)

STUDY_UNTIL_TERM = """\
echo "tfcli $*" >> "$CALLS"
case "$1 $2" in
  "study start"|"study resume")
    if [ -n "${STUDY_PID_FILE:-}" ]; then
      trap 'echo "study got TERM" >> "$CALLS"; sleep 0.5; exit "${STUDY_TERM_EXIT:-143}"' TERM
      echo "$$" > "$STUDY_PID_FILE"
      while true; do sleep 0.2 & wait $!; done
    fi
    exit 0 ;;
  "cluster wait") exit 0 ;;
esac
"""


@pytest.fixture
def bin_dir(tmp_path) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    for name, body in {**STAND_INS, "tfcli": STUDY_UNTIL_TERM}.items():
        path = folder / name
        path.write_text("#!/bin/bash\n" + body)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return folder


def _kill_left_over(proc, *pid_files: Path) -> None:
    """The script and the stand-ins it started, if still running (a broken trap leaves them)."""
    if proc.poll() is None:
        proc.kill()
    for pid in (p for f in pid_files if f.exists() for p in f.read_text().split()):
        if Path(f"/proc/{pid}").exists():
            os.kill(int(pid), signal.SIGKILL)


def run_until_term(script: Path, bin_dir: Path, tmp_path: Path, **env: str) -> tuple[int, list[str]]:
    """Run the script, SIGTERM the batch shell alone once the study runs; (exit code, calls)."""
    calls, study_pid = tmp_path / "calls.log", tmp_path / "study.pid"
    environment = {
        **os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "CALLS": str(calls),
        "RAY_PIDS": str(tmp_path / "ray.pids"), "SLURM_JOB_NODELIST": "node-[a-b]", "SLURM_JOB_ID": "4242",
        "STUDY_PID_FILE": str(study_pid), **env,
    }
    proc = subprocess.Popen(["bash", str(script)], env=environment, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while not study_pid.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert study_pid.exists(), proc.communicate(timeout=10)[0] if proc.poll() is not None else "the study never started"
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=30)[0]
        assert not Path(f"/proc/{study_pid.read_text().strip()}").exists(), "the study is still running"
    finally:
        _kill_left_over(proc, study_pid, tmp_path / "ray.pids")
    return proc.returncode, calls.read_text().splitlines() + [f"output: {line}" for line in output.splitlines()]


def test_script_has_the_requeue_directives_and_parses(tmp_path, cli):
    text = write_script(tmp_path, cli).read_text()
    assert "#SBATCH --requeue\n" in text
    assert "#SBATCH --signal=B:TERM@120\n" in text
    parsed = subprocess.run(["bash", "-n"], input=text, capture_output=True, text=True)
    assert parsed.returncode == 0, parsed.stderr


def test_sigterm_stops_the_study_then_requeues_the_job(tmp_path, cli, bin_dir):
    script = write_script(tmp_path, cli, "--storage", "/shared/ray")
    code, calls = run_until_term(script, bin_dir, tmp_path)
    assert code == 143, "\n".join(calls)
    order = [next((i for i, line in enumerate(calls) if line.startswith(p)), None) for p in (
        "tfcli study start", "study got TERM", "scontrol requeue 4242", "ray stop --force",
    )]
    assert None not in order and order == sorted(order), "\n".join(calls)
    assert not any(line.startswith("tfcli study resume") for line in calls)


def test_a_requeued_run_resumes_the_study(tmp_path, cli, bin_dir):
    script = write_script(tmp_path, cli, "--storage", "/shared/ray", "--tracking-uri", "http://mlflow:5000")
    code, calls = run_until_term(script, bin_dir, tmp_path, SLURM_RESTART_COUNT="1")
    assert code == 143, "\n".join(calls)
    resumes = [line for line in calls if line.startswith("tfcli study resume")]
    assert resumes == ["tfcli study resume slurm-study --address 10.0.0.1:6379 --storage /shared/ray --tracking-uri http://mlflow:5000"]
    assert not any(line.startswith("tfcli study start") for line in calls)
    assert any(line.startswith("scontrol requeue 4242") for line in calls), "a resume stopped again is requeued again"


def test_no_requeue_when_the_study_ended_anyway(tmp_path, cli, bin_dir):
    script = write_script(tmp_path, cli)
    code, calls = run_until_term(script, bin_dir, tmp_path, STUDY_TERM_EXIT="0")
    assert code == 0, "\n".join(calls)
    assert "study got TERM" in calls
    assert not any(line.startswith("scontrol requeue") for line in calls), "\n".join(calls)
