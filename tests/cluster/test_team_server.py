"""The team set-up of docs/cluster.md (issue 25, acceptance 4): one ``mlflow server`` on a
real PostgreSQL, with artifacts proxied by the server into its ``--artifacts-destination``.

One study goes through every command a team runs, in order: ``study start`` stopped by Ctrl-C
(SIGINT to the driver's process group), ``resume``, ``extend``, ``confirm``, ``report`` in every
format, ``export`` (also registered in the server's model registry), ``predict`` (from the export
folder and from ``models:/``) and ``ui``. Every command is a fresh process that knows the store
only by the server's URL; checkpoints and reports must land under the server's artifact folder
and nothing of a store beside the driver. The tests share the module's study, so they run in
file order and each needs the ones before it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.cluster import postgres as pg
from tests.cluster.conftest import tiny_study
from tests.cluster.services import base_env, mlflow_server, run_tfcli, scratch_dir, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

NAME = "team"
MLFLOW_CHATTER = ("🏃 View run", "🧪 View experiment")


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    """PostgreSQL, an MLflow server on it, and the driver's folder, shared by the module's tests."""
    why = pg.available()
    if why:
        pytest.skip(why)
    started = time.monotonic()
    with pg.postgres() as database, scratch_dir("tfs") as root:
        with mlflow_server(root, backend_uri=database.uri, start_timeout_s=300) as url:
            print(f"PostgreSQL and an MLflow server on it (tables migrated) up in {time.monotonic() - started:.0f} s")
            driver = tmp_path_factory.mktemp("driver")
            (driver / "team.yaml").write_text(tiny_study(NAME, steps=30, train_extra=", log_every: 4"))
            yield Team(url=url, artifacts=root / "server-artifacts", driver=driver, database=database)


class Team:
    def __init__(self, *, url: str, artifacts: Path, driver: Path, database: pg.Postgres):
        self.url, self.artifacts, self.driver, self.database = url, artifacts, driver, database
        self.outputs: list[tuple[str, str]] = []  # (command, its stdout and stderr): checked for MLflow's chatter

    def tfcli(self, *args, timeout_s: float = 300) -> subprocess.CompletedProcess:
        started = time.monotonic()
        done = run_tfcli(list(args), env=self.env(), cwd=self.driver, timeout_s=timeout_s)
        print(f"tfcli {' '.join(map(str, args[:3]))}: {time.monotonic() - started:.0f} s")
        self.outputs.append((" ".join(map(str, args)), done.stdout + done.stderr))
        assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done

    def env(self) -> dict[str, str]:
        """What every command runs with: the server's URL as MLFLOW_TRACKING_URI, as docs/cluster.md sets it."""
        return base_env(MLFLOW_TRACKING_URI=self.url)

    def client(self):
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.url)

    def runs(self, role: str = "trial"):
        client = self.client()
        experiment = client.get_experiment_by_name(NAME)
        if experiment is None:
            return []
        runs = client.search_runs([experiment.experiment_id], max_results=1000)
        return [r for r in runs if r.data.tags.get("tfcli.role") == role]


def test_ctrl_c_stops_the_study_and_resume_completes_it(team):
    proc = subprocess.Popen(
        [sys.executable, "-m", "tfcli", "study", "start", "team.yaml", "--storage", team.driver / "ray"],
        cwd=team.driver, env=team.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    client, started = team.client(), time.monotonic()

    def a_trial_is_training():
        if proc.poll() is not None:
            raise AssertionError(f"the study ended early:\n{proc.stdout.read()}\n{proc.stderr.read()}")
        return any(client.get_metric_history(r.info.run_id, "bleu") for r in team.runs() if r.info.status == "RUNNING")

    try:
        wait_until(a_trial_is_training, 240, "a trial's first evaluation", every_s=0.3)
        print(f"study start: a trial evaluated after {time.monotonic() - started:.0f} s")
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    team.outputs.append(("study start", out + err))
    assert proc.returncode == 130, out + err
    assert f"tfcli study resume {NAME}" in out + err
    assert "Traceback" not in err, err[-3000:]
    statuses = [r.info.status for r in team.runs()]
    assert "KILLED" in statuses and "RUNNING" not in statuses, statuses
    assert [p.info.status for p in team.runs("study")] == ["KILLED"]

    team.tfcli("study", "resume", NAME, "--storage", team.driver / "ray")
    trials = team.runs()
    assert len(trials) == 2 and all(r.info.status == "FINISHED" for r in trials), [r.info.status for r in trials]
    for trial in trials:
        for metric in ("bleu", "train_loss"):
            steps = [m.step for m in client.get_metric_history(trial.info.run_id, metric)]
            assert steps and len(steps) == len(set(steps)), (metric, steps)


def test_extend_and_confirm(team):
    team.tfcli("study", "extend", NAME, "--num-samples", "1", "--storage", team.driver / "ray")
    trials = team.runs()
    assert len(trials) == 3 and all(r.info.status == "FINISHED" for r in trials), [r.info.status for r in trials]
    assert len(team.runs("study")) == 1, "extend runs under the same parent run"

    done = team.tfcli("study", "confirm", NAME, "--top", "1", "--seeds", "2", "--storage", team.driver / "ray", "--format", "json")
    assert done.stdout.strip(), done.stderr
    confirmations = team.runs("confirmation")
    assert len(confirmations) == 2 and all(r.info.status == "FINISHED" for r in confirmations), confirmations


def test_report_in_every_format(team):
    trial_ids = sorted(r.info.run_id for r in team.runs())
    ranked = json.loads(team.tfcli("report", NAME, "--format", "json").stdout)["ranked"]
    assert sorted(r["run_id"] for r in ranked) == trial_ids
    table = team.tfcli("report", NAME).stdout
    # each ranked trial is a row: its rank, then its number (the report names trials by number)
    assert all(re.search(rf"│\s*{r['rank']} │ {r['number']}\s+│", table) for r in ranked), table
    csv = team.tfcli("report", NAME, "--format", "csv").stdout.splitlines()
    assert len(csv) == 1 + len(trial_ids), csv
    markdown = team.tfcli("report", NAME, "--format", "markdown").stdout
    assert markdown.count("\n|") >= 2 + len(trial_ids), markdown
    team.tfcli("report", NAME, "--format", "html", "--out", team.driver / "team-report.html")
    assert "plotly" in (team.driver / "team-report.html").read_text().lower()

    parent = team.runs("study")[0]
    logged = {a.path for a in team.client().list_artifacts(parent.info.run_id)}
    assert "report.html" in logged, logged
    assert list(team.artifacts.rglob("report.html")), "the report is in the server's artifact store"


def test_export_and_predict(team):
    out = team.driver / "export"
    summary = json.loads(team.tfcli("export", NAME, "--out", out, "--register", "team-model", "--format", "json").stdout)
    assert (out / "model.safetensors").is_file()
    assert summary["run_id"] in {r.info.run_id for r in team.runs() + team.runs("confirmation")}, summary
    inputs = team.driver / "inputs.txt"
    inputs.write_text("may the sixth two thousand forty-six\njanuary the first nineteen ninety\n")
    local = team.tfcli("predict", out, "--input", inputs).stdout.splitlines()
    assert len(local) == 2, local
    registered = team.tfcli("predict", "models:/team-model@best", "--input", inputs).stdout.splitlines()
    assert registered == local


def test_ui_prints_the_server_views(team):
    """A server already serves the UI: ``tfcli ui`` prints its address and the study's runs view."""
    from tfcli.tracking import study_url

    done = team.tfcli("ui", timeout_s=60)
    experiment_id = team.runs("study")[0].info.experiment_id
    view = study_url(team.url, experiment_id)
    assert f"{NAME}: {view}" in done.stdout, done.stdout
    for url in (team.url, view):
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - our server
            assert response.status == 200 and b"<html" in response.read().lower()


def test_checkpoints_live_in_the_server_artifact_store(team):
    assert not (team.driver / "mlruns").exists(), sorted(p.name for p in team.driver.iterdir())
    client = team.client()
    for trial in team.runs():
        logged = {a.path for a in client.list_artifacts(trial.info.run_id, "checkpoint")}
        assert "checkpoint/model.safetensors" in logged, logged
    stored = list(team.artifacts.rglob("model.safetensors"))
    assert len(stored) >= len(team.runs()), stored


def test_mlflow_prints_no_view_run_lines(team):
    assert team.outputs
    for command, output in team.outputs:
        for chatter in MLFLOW_CHATTER:
            assert chatter not in output, f"tfcli {command} printed MLflow's '{chatter}' lines:\n{output[-2000:]}"
