"""``tfcli cluster slurm``: the sbatch script parses, and run with stand-in SLURM, Ray and tfcli
commands it starts a head and a worker, waits for both, runs the study against the head,
and stops Ray on the way out, also when the study fails."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from tests.cluster.conftest import tiny_study

pytestmark = pytest.mark.timeout(120)

# Each stand-in appends "NAME ARGS" to $CALLS, one line per call, so the order is kept.
STAND_INS = {
    "scontrol": """\
echo "scontrol $*" >> "$CALLS"
if [ "$1 $2" = "show hostnames" ]; then printf 'node-a\\nnode-b\\n'; fi
""",
    # srun: record, drop the srun options, run the command (as on the named node).
    "srun": """\
echo "srun $*" >> "$CALLS"
while [ $# -gt 0 ] && [ "${1#-}" != "$1" ]; do shift; done
exec "$@"
""",
    "hostname": """\
echo "hostname $*" >> "$CALLS"
echo "10.0.0.1 10.9.9.9"
""",
    # ray start --block blocks until it is signalled, as the real one does.
    "ray": """\
echo "ray $* [auth=$RAY_AUTH_MODE token=${#RAY_AUTH_TOKEN}]" >> "$CALLS"
case " $* " in
  *" start "*"--block"*)
    echo "$$" >> "$RAY_PIDS"
    trap 'echo "ray-exit $$" >> "$CALLS"; exit 0' TERM INT
    while true; do sleep 0.2 & wait $!; done ;;
esac
""",
    # tfcli cluster wait --nodes N returns once N stand-in nodes have started, as the real one
    # returns once N nodes have joined.
    "tfcli": """\
echo "tfcli $* [setup=${TFCLI_SETUP_RAN:-no}]" >> "$CALLS"
if [ "$1 $2" = "study start" ]; then exit "${STUDY_EXIT:-0}"; fi
if [ "$1 $2" = "cluster wait" ]; then
  want=$(echo "$*" | sed -E 's/.*--nodes ([0-9]+).*/\\1/')
  for _ in $(seq 100); do
    [ "$(grep -c '^ray start' "$CALLS")" -ge "$want" ] && exit 0
    sleep 0.1
  done
  exit 2
fi
""",
}


@pytest.fixture
def stand_ins(tmp_path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in STAND_INS.items():
        path = bin_dir / name
        path.write_text("#!/bin/bash\n" + body)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return bin_dir


def write_script(tmp_path, cli, *extra: str) -> Path:
    study = tmp_path / "s.yaml"
    study.write_text(tiny_study("slurm-study"))
    out = tmp_path / "job.sbatch"
    result = cli(
        "cluster", "slurm", str(study), "--nodes", "2", "--cpus-per-node", "4", "--gpus-per-node", "1",
        "--time", "01:30:00", "--partition", "gpu", "--out", str(out), "--setup", "export TFCLI_SETUP_RAN=yes", *extra,
    )
    assert result.exit_code == 0, result.output + result.stderr
    return out


def run_script(script: Path, bin_dir: Path, tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    calls, pids = tmp_path / "calls.log", tmp_path / "ray.pids"
    environment = {
        **os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "CALLS": str(calls), "RAY_PIDS": str(pids),
        "SLURM_JOB_NODELIST": "node-[a-b]", **env,
    }
    done = subprocess.run(["bash", str(script)], env=environment, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    for pid in pids.read_text().split() if pids.exists() else []:
        assert not Path(f"/proc/{pid}").exists(), f"a stand-in `ray start` ({pid}) is still running"
    return done, calls.read_text().splitlines()


def test_script_has_the_directives_and_parses(tmp_path, cli):
    script = write_script(tmp_path, cli)
    text = script.read_text()
    for directive in ("--nodes=2", "--ntasks-per-node=1", "--cpus-per-task=4", "--gpus-per-node=1", "--time=01:30:00", "--partition=gpu", "--exclusive"):
        assert f"#SBATCH {directive}\n" in text
    assert "trap stop_ray EXIT" in text
    assert os.access(script, os.X_OK)
    parsed = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert parsed.returncode == 0, parsed.stderr


def test_script_starts_ray_runs_the_study_on_the_head_and_stops_ray(tmp_path, cli, stand_ins):
    script = write_script(tmp_path, cli, "--storage", "/shared/ray", "--tracking-uri", "http://mlflow:5000")
    done, calls = run_script(script, stand_ins, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    head = "10.0.0.1:6379"

    def index(prefix: str) -> int:
        found = [i for i, line in enumerate(calls) if line.startswith(prefix)]
        assert found, f"no call starting with {prefix!r} in:\n" + "\n".join(calls)
        return found[0]

    # Background steps log concurrently: check only what causes what.
    head_srun = index("srun --nodes=1 --ntasks=1 --cpus-per-task=4 --nodelist=node-a ray start --head")
    head_start = index("ray start --head --block --node-ip-address=10.0.0.1 --port=6379 --num-cpus=4 --num-gpus=1")
    wait_one = index(f"tfcli cluster wait --address {head} --nodes 1")
    worker_srun = index(f"srun --nodes=1 --ntasks=1 --cpus-per-task=4 --nodelist=node-b ray start --block --address={head}")
    worker_start = index(f"ray start --block --address={head} --num-cpus=4 --num-gpus=1")
    wait_all = index(f"tfcli cluster wait --address {head} --nodes 2")
    study = index(f"tfcli study start {tmp_path / 's.yaml'} --address {head} --storage /shared/ray --tracking-uri http://mlflow:5000")
    stop = index("ray stop --force")
    assert head_srun < head_start < worker_srun and wait_one < worker_srun < worker_start < study
    assert wait_all < study < stop
    assert "[setup=yes]" in calls[study], "the --setup line runs before the study"
    assert all("[auth=token token=64]" in line for line in calls if line.startswith("ray start"))
    assert sum(line.startswith("ray-exit") for line in calls) == 2, "both blocking `ray start` steps were stopped"
    assert all(i > study for i, line in enumerate(calls) if line.startswith("ray-exit"))
    assert index("srun --overlap --nodes=2 --ntasks-per-node=1 ray stop --force") < stop


def test_ray_stops_when_the_study_fails(tmp_path, cli, stand_ins):
    script = write_script(tmp_path, cli)
    done, calls = run_script(script, stand_ins, tmp_path, STUDY_EXIT="1")
    assert done.returncode == 1, done.stdout + done.stderr
    assert any(line.startswith("ray stop --force") for line in calls)
    assert sum(line.startswith("ray-exit") for line in calls) == 2


def test_bad_slurm_input_is_one_line_and_exit_2(tmp_path, cli):
    study = tmp_path / "s.yaml"
    study.write_text(tiny_study("bad"))
    result = cli("cluster", "slurm", str(study), "--nodes", "2", "--time", "90 minutes")
    assert result.exit_code == 2 and "--time must be HH:MM:SS" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    gpu_study = tmp_path / "g.yaml"
    gpu_study.write_text(tiny_study("gpu") + "resources: {cpu: 1, gpu: 2}\n")
    result = cli("cluster", "slurm", str(gpu_study), "--nodes", "2", "--time", "01:00:00", "--gpus-per-node", "1")
    assert result.exit_code == 2 and "resources.gpu is 2 and --gpus-per-node is 1" in result.stderr
