"""Faults of the team set-up (issue 25, acceptance 5): the tracking server, or the PostgreSQL
under it, goes away in the middle of a study and comes back; or one of two Ray worker nodes
is lost in the middle of a trial.

One PostgreSQL and one ``mlflow server`` on it serve the module; the server keeps its port
across restarts, so the driver, which knows the store only by its URL, finds it again. Each
test starts a tiny study, waits until a trial has logged an evaluation, takes the server (or
the database) away, brings it back (or loses a Ray node), and checks that nothing was lost: the study exits 0, one
MLflow run per trial, every trial FINISHED with its metrics up to its last step, and no metric
step written twice.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cluster import postgres as pg
from tests.cluster.conftest import tiny_study
from tests.cluster.services import (
    VENV_BIN, Service, base_env, free_port, http_ok, process_tree, ray_cluster, scratch_dir, signal_processes, wait_until,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

STEPS = 30
OUTAGE_S = 20


class Server:
    """``mlflow server`` on a fixed port, stopped and started again by the tests."""

    def __init__(self, root: Path, backend_uri: str):
        self.root, self.backend_uri, self.port = root, backend_uri, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.service: Service | None = None
        self.starts = 0

    def start(self, timeout_s: float = 300) -> None:
        args = [
            str(Path(VENV_BIN) / "mlflow"), "server", "--backend-store-uri", self.backend_uri,
            "--serve-artifacts", "--artifacts-destination", str(self.root / "server-artifacts"),
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1",
        ]
        self.starts += 1
        log = self.root / f"mlflow-server-{self.starts}.log"
        self.service = Service("mlflow server", args, log, base_env(), marker=str(self.root / "server-artifacts"))
        wait_until(lambda: http_ok(f"{self.url}/health"), timeout_s, "the MLflow server", self.service)

    def stop(self) -> None:
        if self.service is not None:
            self.service.stop()
            self.service = None


@pytest.fixture(scope="module")
def team():
    why = pg.available()
    if why:
        pytest.skip(why)
    with pg.postgres() as database, scratch_dir("tff") as root:
        server = Server(root, database.uri)
        try:
            server.start()
            yield database, server, root
        finally:
            server.stop()


def _runs(client, name: str, role: str = "trial"):
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        return []
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    return [r for r in runs if r.data.tags.get("tfcli.role") == role]


def _study_with_outage(
    team, name: str, outage, *, cluster=None, failures: int = 0, ready=None,
) -> tuple[subprocess.CompletedProcess, list]:
    """Run study ``name`` (on ``cluster`` when given); once ``ready()`` (by default: once a trial
    has evaluated), call ``outage()``; the study's result and trial runs."""
    from mlflow import MlflowClient

    _, server, root = team
    driver = root / name
    driver.mkdir()
    (driver / f"{name}.yaml").write_text(
        tiny_study(name, samples=2, steps=STEPS, failures=failures, train_extra=", log_every: 4")
    )
    on_cluster = ["--address", cluster.address] if cluster is not None else []
    env = (cluster.env if cluster is not None else base_env)(MLFLOW_TRACKING_URI=server.url)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tfcli", "study", "start", f"{name}.yaml", *on_cluster, "--storage", str(driver / "ray")],
        cwd=driver, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    client = MlflowClient(tracking_uri=server.url)

    def a_trial_has_evaluated():
        return any(
            client.get_metric_history(r.info.run_id, "bleu") for r in _runs(client, name) if r.info.status == "RUNNING"
        )

    def ready_for_the_fault():
        if proc.poll() is not None:
            raise AssertionError(f"the study ended before the fault:\n{proc.stdout.read()}\n{proc.stderr.read()}")
        return (ready or a_trial_has_evaluated)()

    try:
        wait_until(ready_for_the_fault, 300, "a trial's first evaluation", every_s=0.1 if ready else 0.3)
        started = time.monotonic()
        outage()
        print(f"{name}: the fault lasted {time.monotonic() - started:.0f} s (server back up included)")
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"the study ended during the fault (exit {proc.returncode}):\n{out[-3000:]}\n{err[-3000:]}")
        out, err = proc.communicate(timeout=400)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    done = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return done, _runs(client, name)


def _assert_nothing_lost(done: subprocess.CompletedProcess, trials: list, team) -> None:
    from mlflow import MlflowClient

    _, server, _ = team
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert "not recorded" not in done.stdout + done.stderr, done.stderr[-3000:]
    assert "MLflow: log_batch failed" not in done.stderr, f"a metric batch was lost:\n{done.stderr[-3000:]}"
    numbers = sorted(r.data.tags.get("tfcli.trial_number") for r in trials)
    assert len(trials) == 2 and len(set(numbers)) == 2, f"one MLflow run per trial: {numbers}"
    assert all(r.info.status == "FINISHED" for r in trials), [r.info.status for r in trials]
    client = MlflowClient(tracking_uri=server.url)
    for trial in trials:
        last_step = int(trial.data.tags["tfcli.last_step"])
        assert last_step == STEPS, trial.data.tags
        for metric in ("bleu", "train_loss"):
            steps = [m.step for m in client.get_metric_history(trial.info.run_id, metric)]
            assert len(steps) == len(set(steps)), f"{metric}: a step written twice: {sorted(steps)}"
            assert max(steps) == STEPS, f"{metric}: {sorted(steps)}"
        # every evaluation (eval_every 10) and every training log (log_every 4) the trial made is in the store
        bleu = sorted(m.step for m in client.get_metric_history(trial.info.run_id, "bleu"))
        assert bleu == list(range(10, STEPS + 1, 10)), f"evaluations lost: {bleu}"
        train = {m.step for m in client.get_metric_history(trial.info.run_id, "train_loss")}
        assert set(range(4, STEPS + 1, 4)) <= train, f"training losses lost: {sorted(train)}"


def test_tracking_server_killed_for_20s_mid_study(team):
    _, server, _ = team

    def outage():
        server.stop()
        time.sleep(OUTAGE_S)
        server.start()

    done, trials = _study_with_outage(team, "fault-server", outage)
    _assert_nothing_lost(done, trials, team)


def test_postgres_restarted_mid_study(team):
    database, _, _ = team

    def outage():
        database.stop()
        time.sleep(5)
        database.start()

    done, trials = _study_with_outage(team, "fault-postgres", outage)
    _assert_nothing_lost(done, trials, team)


def _trial_dir_on(node: Service) -> str | None:
    """The folder name of the trial that runs on ``node`` (its worker's working directory is
    ``<node temp dir>/session_*/artifacts/*/<study>/working_dirs/<trial folder>``)."""
    for pid in process_tree(node.proc.pid):
        try:
            cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
        except OSError:
            continue
        if cwd.parent.name == "working_dirs":
            return cwd.name
    return None


def test_a_ray_worker_node_lost_mid_trial(team):
    """A head without CPUs and two worker nodes of one CPU each: the study's two trials run one
    on each node. Once Ray's driver holds the first checkpoint of the trial on node ``n1``, the node is
    frozen (SIGSTOP) and, unless that trial had already reported its last step, lost: every
    process of it SIGKILLed at once, its raylet included. The trial fails, ``budget.max_failures``
    counts the failure, and the trial continues from its last checkpoint on ``n2``."""
    name = "fault-node"
    storage = team[2] / name / "ray" / name
    last_checkpoint = f"checkpoint_{STEPS // 10 - 1:06d}"  # eval_every 10: one checkpoint per evaluation
    with ray_cluster("tfn") as cluster:
        cluster.start_head(num_cpus=0)
        lost = cluster.add_node("n1", num_cpus=1)
        cluster.add_node("n2", num_cpus=1)
        cluster.wait_for_nodes(3)
        on_lost: list[str] = []

        def checkpointed_on_n1():
            """Ray's driver logged the trial's first result (result.json), so holds its checkpoint."""
            trial = on_lost[0] if on_lost else _trial_dir_on(lost)
            if trial is None:
                return False
            on_lost[:] = [trial]
            staged = f"*/session_*/artifacts/*/{name}/driver_artifacts/{trial}/result.json"  # the driver's copy
            return any(results.stat().st_size > 0 for results in cluster.root.glob(staged))

        def lose_n1():
            node = process_tree(lost.proc.pid)
            signal_processes(node, signal.SIGSTOP)
            ended = (storage / on_lost[0] / last_checkpoint).exists()
            signal_processes(node, signal.SIGKILL)
            assert not ended, f"{on_lost[0]} had reported its last step before n1 was frozen: make the trials longer"

        done, trials = _study_with_outage(team, name, lose_n1, cluster=cluster, failures=1, ready=checkpointed_on_n1)
    _assert_nothing_lost(done, trials, team)
    failures = {r.data.tags["tfcli.trial_id"]: int(r.data.tags.get("tfcli.num_failures") or 0) for r in trials}
    assert sorted(failures.values()) == [0, 1], f"the lost node's trial counts one failure: {failures}\n{done.stdout[-3000:]}"
    assert [i for i, n in failures.items() if n] == [i for i in failures if i in on_lost[0]], (failures, on_lost)
    assert re.search(r"retrying from its last checkpoint at step (10|20)\b", done.stdout), done.stdout[-3000:]
    # Ray's own log of the lost trial's results: each evaluation once, so it went on from its
    # checkpoint rather than starting over
    reported = [json.loads(line)["step"] for line in (storage / on_lost[0] / "result.json").read_text().splitlines()]
    assert reported == list(range(10, STEPS + 1, 10)), f"the lost trial's reports: {reported}"
