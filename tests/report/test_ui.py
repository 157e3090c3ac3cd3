"""`tfcli ui` as a user runs it: a subprocess serving the study store over MLflow's REST API."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def post(url: str, payload: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our own server
        return json.loads(response.read())


def wait_for(url: str, process: subprocess.Popen, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"tfcli ui exited with {process.returncode}: {process.stderr.read()}")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"tfcli ui did not answer at {url} within {timeout_s} s")


def test_ui_serves_the_study_runs_over_rest_and_stops_with_its_process_group(real_study, tmp_path):
    port = free_port()
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("MLFLOW_TRACKING_URI", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "tfcli", "ui", "--port", str(port), "--tracking-uri", real_study.uri],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
        start_new_session=True,  # its own process group: the server's workers are in it too
    )
    group = os.getpgid(process.pid)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/health", process)
        from mlflow import MlflowClient

        experiment = MlflowClient(real_study.uri).get_experiment_by_name(real_study.name)
        found = post(
            f"{base}/api/2.0/mlflow/runs/search",
            {"experiment_ids": [experiment.experiment_id], "filter": f"tags.`tfcli.study_id` = '{real_study.study_id}'", "max_results": 100},
        )
        roles = sorted(
            {t["key"]: t["value"] for t in run["data"]["tags"]}["tfcli.role"] for run in found["runs"]
        )
        assert roles == ["study", "trial", "trial", "trial"]
        trial = next(r for r in found["runs"] if any(t == {"key": "tfcli.role", "value": "trial"} for t in r["data"]["tags"]))
        assert {m["key"] for m in trial["data"]["metrics"]} >= {"chrf", "bleu", "loss"}
        assert any(p["key"] == "train.lr" for p in trial["data"]["params"])
    finally:
        os.killpg(group, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(group, signal.SIGKILL)
            process.wait(timeout=10)
    out, err = process.stdout.read(), process.stderr.read()
    assert f"{real_study.name}: {base}/#/experiments/{experiment.experiment_id}/runs?workflowType=machine_learning" in out
    assert "GET /health" not in out + err and "POST /api/2.0" not in out + err, "the server's access log is not quiet"
    assert f"MLflow UI on {real_study.uri} at {base}" in out
    # every process of the group is gone, and the port is free again
    with pytest.raises(ProcessLookupError):
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            os.killpg(group, 0)
            time.sleep(0.3)
    with socket.socket() as probe:  # nothing listens there any more (connections may linger in TIME_WAIT)
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))


def test_ui_refuses_a_taken_port_in_one_line(real_study, cli):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = cli("ui", "--port", port, "--tracking-uri", real_study.uri)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: --port must be free on 127.0.0.1, but port {port} is taken")
