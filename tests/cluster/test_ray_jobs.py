"""``tfcli cluster submit/status/logs/stop`` against a real Ray head with its job server.

The head runs from this virtualenv (its ``bin`` first on PATH, as on a head where tfcli is
installed), so the job's ``tfcli study start ... --address auto`` runs in the same Python.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.cluster.conftest import tiny_study
from tests.cluster.services import free_port, one_error_line, ray_cluster, run_tfcli

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def head():
    with ray_cluster() as cluster:
        cluster.dashboard_port = free_port()
        cluster.start_head(dashboard=True, num_cpus=2)
        yield cluster


def store_runs(db, name):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    experiment = client.get_experiment_by_name(name)
    assert experiment is not None, f"no experiment {name!r} in {db}"
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    return [r for r in runs if r.data.tags.get("tfcli.role") == "study"], [r for r in runs if r.data.tags.get("tfcli.role") == "trial"]


def test_submit_runs_the_study_as_a_job(head, tmp_path):
    # A study with its own data files, named relative to the study file: they travel with the job.
    study_dir = tmp_path / "project"
    (study_dir / "data").mkdir(parents=True)
    pairs = [(f"{d} march 20{y:02d}", f"20{y:02d}-03-{d:02d}") for d in range(1, 29) for y in range(10, 13)]
    (study_dir / "data" / "train.tsv").write_text("".join(f"{s}\t{t}\n" for s, t in pairs[:70]))
    (study_dir / "data" / "valid.tsv").write_text("".join(f"{s}\t{t}\n" for s, t in pairs[70:84]))
    text = tiny_study("job-study").replace("data: 'builtin:dates'", "data: {train: data/train.tsv, valid: data/valid.tsv}")
    (study_dir / "s.yaml").write_text(text)
    db = tmp_path / "store" / "mlflow.db"
    done = run_tfcli(
        ["cluster", "submit", "s.yaml", "--address", head.dashboard_url, "--tracking-uri", f"sqlite:///{db}",
         "--storage", tmp_path / "ray-storage", "--job-id", "tfcli-test-job"],
        env=head.env(), cwd=study_dir,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert done.stdout.splitlines()[0] == "tfcli-test-job"
    assert "2 finished" in done.stdout, "the job's logs are followed until it ends"
    assert "sent: s.yaml, data/train.tsv, data/valid.tsv" in done.stderr
    assert "Job tfcli-test-job SUCCEEDED" in done.stderr

    parents, children = store_runs(db, "job-study")
    assert len(parents) == 1 and len(children) == 2 and all(c.info.status == "FINISHED" for c in children)

    status = run_tfcli(["cluster", "status", "tfcli-test-job", "--address", head.dashboard_url, "--format", "json"], env=head.env(), cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    state = json.loads(status.stdout)
    assert state["status"] == "SUCCEEDED" and state["metadata"]["tfcli.study"] == "job-study"
    assert state["entrypoint"].startswith("tfcli study start s.yaml --address auto --tracking-uri sqlite:///")

    table = run_tfcli(["cluster", "status", "tfcli-test-job", "--address", head.dashboard_url], env=head.env(), cwd=tmp_path)
    assert "SUCCEEDED" in table.stdout and "job-study" in table.stdout

    logs = run_tfcli(["cluster", "logs", "tfcli-test-job", "--address", head.dashboard_url], env=head.env(), cwd=tmp_path)
    assert logs.returncode == 0 and "job-study: 2 finished" in logs.stdout


def job_status(job_id, env, cwd) -> dict:
    done = run_tfcli(["cluster", "status", job_id, "--format", "json"], env=env, cwd=cwd)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_no_wait_ship_tfcli_then_stop(head, tmp_path):
    (tmp_path / "s.yaml").write_text(tiny_study("stopped-job", steps=400))
    env = head.env(RAY_API_SERVER_ADDRESS=head.dashboard_url)  # the default address
    done = run_tfcli(
        ["cluster", "submit", "s.yaml", "--no-wait", "--ship-tfcli", "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db"],
        env=env, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    job_id = done.stdout.strip()
    assert job_id.startswith("tfcli-stopped-job-")
    # The runtime environment with this tfcli package (py_modules) is set up and the study starts.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = job_status(job_id, env, tmp_path)
        if state["status"] != "PENDING":
            break
        time.sleep(0.5)
    assert state["status"] == "RUNNING", state
    assert state["entrypoint"].startswith("python -m tfcli study start s.yaml --address auto")
    stopped = run_tfcli(["cluster", "stop", job_id], env=env, cwd=tmp_path)
    assert stopped.returncode == 0 and f"Stopping job {job_id}" in stopped.stdout
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = job_status(job_id, env, tmp_path)
        if state["status"] == "STOPPED":
            break
        time.sleep(1)
    assert state["status"] == "STOPPED"
    followed = run_tfcli(["cluster", "logs", job_id, "--follow"], env=env, cwd=tmp_path)
    assert followed.returncode == 1 and f"Job {job_id} STOPPED" in followed.stderr


def test_bad_job_input_is_one_line(head, tmp_path):
    (tmp_path / "s.yaml").write_text(tiny_study("bad-job"))
    env = head.env()
    line = one_error_line(run_tfcli(["cluster", "status", "no-such-job", "--address", head.dashboard_url], env=env, cwd=tmp_path))
    assert "no job 'no-such-job'" in line
    line = one_error_line(run_tfcli(["cluster", "submit", "s.yaml", "--address", head.dashboard_url], env=env, cwd=tmp_path))
    assert "--tracking-uri" in line
    line = one_error_line(
        run_tfcli(["cluster", "submit", "s.yaml", "--address", head.dashboard_url, "--tracking-uri", "sqlite:///mlruns/x.db"], env=env, cwd=tmp_path)
    )
    assert "relative" in line
    line = one_error_line(run_tfcli(["cluster", "logs", "x"], env=env, cwd=tmp_path))
    assert "--address http://HEAD:8265" in line
    no_token = {k: v for k, v in env.items() if not k.startswith("RAY_AUTH")}
    line = one_error_line(run_tfcli(["cluster", "status", "x", "--address", head.dashboard_url], env={**no_token, "RAY_AUTH_MODE": "disabled"}, cwd=tmp_path))
    assert "token" in line
