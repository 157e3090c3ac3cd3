"""`tfcli train`: one run end to end, logged to a real MLflow store; bad input exits 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.train.conftest import tiny_spec_text

pytestmark = pytest.mark.timeout(300)


def run_cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "tfcli", *map(str, args)], capture_output=True, text=True, timeout=280, cwd=cwd,
        env={**__import__("os").environ, "OMP_NUM_THREADS": "1", "MLFLOW_TRACKING_URI": ""},
    )


def test_train_json_logs_run_to_mlflow(tmp_path):
    study = tmp_path / "tiny.yaml"
    study.write_text(tiny_spec_text("classification"))
    out = run_cli(
        "train", study, "--format", "json", "--set", "train.max_steps=10", "--set", "train.eval_every=5",
        "--set", "train.log_every=2", cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["steps"] == 10 and summary["best_step"] in (5, 10) and summary["max_time_reached"] is False
    assert set(summary["metrics"]) >= {"accuracy", "f1", "loss", "step"}
    assert "accuracy" in summary["test_metrics"]
    assert (tmp_path / "mlruns" / "mlflow.db").is_file()

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=summary["tracking_uri"])
    run = client.get_run(summary["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.params["train.max_steps"] == "10" and run.data.params["model.d_model"] == "32"
    assert run.data.params["train.precision"] == "auto" and run.data.params["train.precision_resolved"] in ("fp32", "bf16")
    history = client.get_metric_history(summary["run_id"], "accuracy")
    assert sorted(m.step for m in history) == [5, 10]
    assert sorted(m.step for m in client.get_metric_history(summary["run_id"], "train_loss")) == [2, 4, 5, 6, 8, 10]
    assert "test_accuracy" in run.data.metrics
    artifacts = {a.path for a in client.list_artifacts(summary["run_id"], "checkpoint")}
    assert "checkpoint/model.safetensors" in artifacts and "checkpoint/valid_outputs.jsonl" in artifacts


def test_train_table_output(tmp_path):
    study = tmp_path / "tiny.yaml"
    study.write_text(tiny_spec_text("translation"))
    out = run_cli("train", study, "--set", "train.max_steps=4", "--set", "train.eval_every=2", "--no-test", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Evaluations (validation split)" in out.stdout and "bleu" in out.stdout
    assert "Precision fp32:" in out.stdout or "Precision bf16:" in out.stdout, "precision: auto says what it chose and why"
    assert "MLflow run" in out.stdout


def _files_study(tmp_path, train_text: str) -> str:
    (tmp_path / "train.tsv").write_text(train_text)
    return (
        "name: files\ntask: {type: translation, data: {train: train.tsv}}\n"
        "model: {d_model: 32, heads: 2}\ntrain: {max_steps: 2, eval_every: 2}\n"
    )


def test_malformed_data_line_names_file_and_line(tmp_path, cli):
    study = tmp_path / "s.yaml"
    study.write_text(_files_study(tmp_path, "a b\tc d\none\ttwo\nbroken line without tab\nx\ty\n"))
    result = cli("train", study, "--tracking-uri", f"sqlite:///{tmp_path}/m.db")
    assert result.exit_code == 2, result.output
    assert "train.tsv:3:" in result.stderr and "Traceback" not in result.stderr


def test_empty_data_set(tmp_path, cli):
    study = tmp_path / "s.yaml"
    study.write_text(_files_study(tmp_path, ""))
    result = cli("train", study, "--tracking-uri", f"sqlite:///{tmp_path}/m.db")
    assert result.exit_code == 2
    assert "train.tsv" in result.stderr and "empty" in result.stderr


def test_unknown_set_key_suggests(tmp_path, cli):
    study = tmp_path / "s.yaml"
    study.write_text(tiny_spec_text())
    result = cli("train", study, "--set", "train.lrr=0.1")
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: --set train.lrr=0.1: unknown key 'train.lrr'; did you mean 'train.lr'?"


def test_set_value_of_wrong_type(tmp_path, cli):
    study = tmp_path / "s.yaml"
    study.write_text(tiny_spec_text())
    result = cli("train", study, "--set", "model.d_model=big")
    assert result.exit_code == 2
    assert "--set model.d_model=big" in result.stderr and "integer" in result.stderr
    assert "Traceback" not in result.stderr


def test_truncation_is_counted_not_silent(tmp_path):
    study = tmp_path / "tiny.yaml"
    study.write_text(tiny_spec_text("summarization", data="{vocab_size: 200, train_size: 50, valid_size: 8, test_size: 8, max_source_length: 16, max_target_length: 8}"))
    out = run_cli("train", study, "--format", "json", "--set", "train.max_steps=2", "--set", "train.eval_every=2", "--no-test", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["truncated"]["train"] == 50
    assert "truncated" in out.stderr
