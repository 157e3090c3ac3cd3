"""Every command against a real ``mlflow server`` that proxies artifacts (``--serve-artifacts``):
the study's driver uploads checkpoints through the server, and report and export read them
back through it, so no process needs the server's file system."""

from __future__ import annotations

import json

import pytest

from tests.cluster.conftest import tiny_study
from tests.cluster.services import base_env, free_port, mlflow_server, one_error_line, run_tfcli, scratch_dir

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def registered(command: str) -> bool:
    from tfcli.cli import COMMANDS

    return command in COMMANDS


@pytest.fixture(scope="module")
def server(empty_store_db):
    with scratch_dir("tfm") as root, mlflow_server(root, empty_store_db) as url:
        yield url, root


def test_study_report_and_export_through_the_server(server, tmp_path, cli):
    url, root = server
    (tmp_path / "s.yaml").write_text(tiny_study("remote"))
    done = run_tfcli(
        ["study", "start", "s.yaml", "--tracking-uri", url, "--storage", tmp_path / "ray"], env=base_env(), cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert not (tmp_path / "mlruns").exists(), "nothing of the store is written beside the driver"
    assert "View run" not in done.stdout + done.stderr, "MLflow's URL lines stay out of tfcli's output"

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=url)
    experiment = client.get_experiment_by_name("remote")
    assert experiment.artifact_location.startswith("mlflow-artifacts:"), experiment.artifact_location
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.data.tags.get("tfcli.role") == "study"]
    children = [r for r in runs if r.data.tags.get("tfcli.role") == "trial"]
    assert len(parents) == 1 and len(children) == 2
    for child in children:
        assert child.info.status == "FINISHED"
        assert child.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
        artifacts = {a.path for a in client.list_artifacts(child.info.run_id, "checkpoint")}
        assert "checkpoint/model.safetensors" in artifacts
    stored = list((root / "server-artifacts").rglob("model.safetensors"))
    assert len(stored) == 2, "the artifacts live where the server keeps them"

    if not registered("report"):
        pytest.skip("tfcli report is not registered yet")
    report = cli("report", "remote", "--tracking-uri", url, "--format", "json", "--no-significance", "--no-importance")
    assert report.exit_code == 0, report.output + report.stderr
    ranked = json.loads(report.stdout)["ranked"]
    assert sorted(r["run_id"] for r in ranked) == sorted(c.info.run_id for c in children)

    if not registered("export"):
        pytest.skip("tfcli export is not registered yet")
    out = tmp_path / "export"
    exported = cli("export", "remote", "--out", out, "--tracking-uri", url, "--format", "json")
    assert exported.exit_code == 0, exported.output + exported.stderr
    summary = json.loads(exported.stdout)
    assert summary["run_id"] == ranked[0]["run_id"]
    assert (out / "model.safetensors").is_file()


def test_an_unreachable_server_is_one_line(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    (tmp_path / "s.yaml").write_text(tiny_study("nowhere"))
    line = one_error_line(run_tfcli(["study", "start", "s.yaml", "--tracking-uri", url], env=base_env(), cwd=tmp_path))
    assert url in line and "reachable" in line
    line = one_error_line(run_tfcli(["report", "nowhere", "--tracking-uri", url], env=base_env(), cwd=tmp_path))
    assert url in line
