"""Issue 25: two drivers of one study on a tracking server — the lease on the parent run.

Against a real `mlflow server`: while a driver runs a study, `resume` from another process is
refused; once that driver is killed outright its lease lapses, and of two `resume`s started at
once exactly one drives the study to its end and the other is refused in one line.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.cluster.conftest import tiny_study
from tests.cluster.services import base_env, mlflow_server, one_error_line, run_tfcli, scratch_dir, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]

TTL_S = "6"


@pytest.fixture(scope="module")
def server(empty_store_db):
    with scratch_dir("tfl") as root, mlflow_server(root, empty_store_db) as url:
        yield url


def lease_holders(url: str, name: str) -> list[str]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=url)
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        return []
    runs = client.search_runs([experiment.experiment_id], "tags.`tfcli.role` = 'study'")
    return [k for r in runs for k in r.data.tags if k.startswith("tfcli.lease.")]


def test_one_driver_per_study_on_a_server_store(server, tmp_path):
    url = server
    env = base_env(TFCLI_LEASE_TTL_S=TTL_S)
    (tmp_path / "s.yaml").write_text(tiny_study("leased", samples=1, steps=30))
    common = ["--tracking-uri", url]
    driver = subprocess.Popen(
        [sys.executable, "-m", "tfcli", "study", "start", "s.yaml", *common, "--storage", str(tmp_path / "ray")],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    try:
        wait_until(lambda: lease_holders(url, "leased"), 120, "the driver's lease on the parent run")
        line = one_error_line(run_tfcli(["study", "resume", "leased", *common], env=env, cwd=tmp_path))
        assert "being run by another tfcli driver" in line, line
        wait_until(lambda: list((tmp_path / "ray").glob("leased/experiment_state-*.json")), 240, "Ray's saved state")
    finally:
        os.killpg(driver.pid, signal.SIGKILL)  # the driver dies without releasing its lease
        driver.communicate()

    time.sleep(float(TTL_S) + 1)
    resumes = [
        subprocess.Popen(
            [sys.executable, "-m", "tfcli", "study", "resume", "leased", *common], cwd=tmp_path, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )
        for _ in range(2)
    ]
    done = []
    for proc in resumes:
        out, err = proc.communicate(timeout=300)
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    codes = sorted(d.returncode for d in done)
    assert codes == [0, 2], [(d.returncode, d.stderr[-2000:]) for d in done]
    refused = next(d for d in done if d.returncode == 2)
    assert "being run by another tfcli driver" in one_error_line(refused)
    assert lease_holders(url, "leased") == [], "the winner releases its lease when it ends"
