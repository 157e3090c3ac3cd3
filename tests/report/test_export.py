"""`tfcli export` and `tfcli predict` on the real study: layout, exact reproduction, registry."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.report.conftest import synthetic_study

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

CONFIG_KEYS = ["format", "task", "model", "labels", "tokenizer", "decoding", "metrics", "hyperparameters", "data", "study_spec", "training", "provenance"]


@pytest.fixture(scope="module")
def exported(real_study, tmp_path_factory):
    """The best trial exported once for the module, through the CLI."""
    from typer.testing import CliRunner

    from tfcli.cli import app

    out = tmp_path_factory.mktemp("export") / "best"
    result = CliRunner().invoke(app, ["export", real_study.name, "--out", str(out), "--tracking-uri", real_study.uri, "--format", "json"])
    assert result.exit_code == 0, result.stderr
    return out, json.loads(result.stdout.strip().splitlines()[-1])


def best_run(real_study):
    from tfcli import tracking as tr

    records = tr.trial_records(real_study.tracking, real_study.name, history=False)
    return max(records, key=lambda r: r.objective_value)


def valid_outputs(real_study, record, tmp_path):
    from tfcli import tracking as tr

    path = tr.download_run_artifact(real_study.tracking, record.run_id, "checkpoint/valid_outputs.jsonl", tmp_path / "outputs")
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_export_folder_layout_config_and_no_pickle(exported, real_study):
    out, summary = exported
    record = best_run(real_study)
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "model.safetensors", "tokenizer.json"]
    config = json.loads((out / "config.json").read_text())
    assert list(config) == CONFIG_KEYS
    assert config["format"] == "tfcli-export/1" and config["task"] == "translation"
    p = config["provenance"]
    assert (p["study"], p["study_id"], p["trial_id"], p["run_id"], p["step"]) == (
        real_study.name, real_study.study_id, record.trial_id, record.run_id, record.objective_step,
    )
    assert p["tracking_uri"] == real_study.uri and p["experiment_id"] and p["parent_run_id"]
    assert summary["trial_id"] == record.trial_id and summary["registered"] is None
    metrics = config["metrics"]
    assert metrics["values"]["chrf"] == record.objective_value and metrics["step"] == record.objective_step
    assert set(metrics["values"]) == {"bleu", "chrf", "ter", "meteor", "loss"}
    assert set(metrics["signatures"]) == {"bleu", "chrf", "ter", "meteor"} and metrics["signatures"]["chrf"].startswith("nrefs:1|")
    assert config["hyperparameters"] == dict(record.config)
    assert config["decoding"]["beam_size"] == 1 and config["model"]["d_model"] == record.config["model.d_model"]
    assert config["training"]["parameters"] == {16: 10944, 32: 27904}[record.config["model.d_model"]]
    card = (out / "README.md").read_text()
    for heading in ("## Task and data", "## Metrics", "## Hyperparameters", "## Training cost", "## Provenance"):
        assert heading in card
    assert record.run_id in card and "METEOR here matches" in card
    # safetensors and JSON only: nothing pickled anywhere in the folder
    for path in out.iterdir():
        assert path.suffix not in (".pkl", ".pickle", ".pt", ".bin")
        assert not path.read_bytes().startswith(b"\x80")  # the pickle protocol marker
    from safetensors import safe_open

    with safe_open(str(out / "model.safetensors"), "pt") as weights:
        assert weights.keys()


def test_predict_reproduces_the_validation_outputs_and_metrics_exactly(exported, real_study, cli, tmp_path, monkeypatch):
    import pickle

    import torch

    from tfcli.metrics import MetricSettings, compute_metrics

    out, _ = exported
    record = best_run(real_study)
    outputs = valid_outputs(real_study, record, tmp_path)
    sources = tmp_path / "sources.txt"
    sources.write_text("".join(o["source"] + "\n" for o in outputs))

    def refuse(*args, **kwargs):
        raise AssertionError("loading an export must not unpickle anything")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    result = cli("predict", out, "--input", sources, "--format", "json")
    assert result.exit_code == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["input"] for line in lines] == [o["source"] for o in outputs]
    predictions = [line["prediction"] for line in lines]
    assert predictions == [o["prediction"] for o in outputs]
    config = json.loads((out / "config.json").read_text())
    scores = compute_metrics("translation", predictions, [[o["reference"]] for o in outputs], MetricSettings()).scores
    for name in ("bleu", "chrf", "ter", "meteor"):
        assert scores[name] == config["metrics"]["values"][name]
    # plain text output, stdin, and batches of one give the same predictions
    text = cli("predict", out, "--batch-size", "1", input=sources.read_text())
    assert text.exit_code == 0, text.stderr
    assert text.stdout.splitlines() == predictions


def test_a_trained_model_beats_an_untrained_one_significantly(exported, real_study, tmp_path):
    import torch
    from safetensors.torch import save_model

    from tfcli.export import load_export
    from tfcli.metrics import paired_bootstrap
    from tfcli.model.transformer import TransformerConfig, build_model

    out, _ = exported
    outputs = valid_outputs(real_study, best_run(real_study), tmp_path)
    untrained = tmp_path / "untrained"
    shutil.copytree(out, untrained)
    torch.manual_seed(0)
    save_model(build_model(TransformerConfig.from_dict(json.loads((out / "config.json").read_text())["model"])), str(untrained / "model.safetensors"))
    sources = [o["source"] for o in outputs]
    references = [[o["reference"]] for o in outputs]
    trained_predictions = load_export(out).predict(sources)
    untrained_predictions = load_export(untrained).predict(sources)
    result = paired_bootstrap("translation", untrained_predictions, trained_predictions, references, "chrf")
    assert result.diff > 5 and result.ci_low > 0 and result.significant
    same = paired_bootstrap("translation", trained_predictions, list(trained_predictions), references, "chrf")
    assert same.diff == 0 and not same.significant


def test_register_then_mlflow_models_predict_and_tfcli_predict_models_uri(exported, real_study, cli, tmp_path):
    from tfcli import tracking as tr

    out = tmp_path / "registered"
    result = cli("export", real_study.name, "--out", out, "--register", "tiny-dates", "--tracking-uri", real_study.uri, "--format", "json")
    assert result.exit_code == 0, result.stderr
    registered = json.loads(result.stdout.strip().splitlines()[-1])["registered"]
    assert registered["name"] == "tiny-dates" and registered["alias"] == "best" and registered["uri"] == "models:/tiny-dates@best"
    texts = ["March 3rd, 1994", "the third of march nineteen ninety-four", "1994-03-03"]
    ours = cli("predict", "models:/tiny-dates@best", "--tracking-uri", real_study.uri, input="".join(t + "\n" for t in texts))
    assert ours.exit_code == 0, ours.stderr
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"dataframe_split": {"columns": ["text"], "data": [[t] for t in texts]}}))
    env = {**os.environ, "MLFLOW_TRACKING_URI": real_study.uri, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    mlflow_cli = [sys.executable, "-m", "mlflow", "models", "predict", "-m", "models:/tiny-dates@best", "--env-manager", "local", "-i", str(request), "-t", "json"]
    done = subprocess.run(mlflow_cli, capture_output=True, text=True, env=env, timeout=180)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["predictions"] == ours.stdout.splitlines()
    # the registered model holds code and the export folder: no pickle
    downloaded = tr.download_model(real_study.tracking, "models:/tiny-dates@best", tmp_path / "model")
    files = sorted(str(p.relative_to(downloaded)) for p in downloaded.rglob("*") if p.is_file())
    assert "serving.py" in files and "artifacts/export/model.safetensors" in files
    assert not [f for f in files if f.endswith((".pkl", ".pickle", ".pt"))]
    assert "loader_module: mlflow.pyfunc.loaders.code_model" in (downloaded / "MLmodel").read_text()


def test_export_and_predict_user_errors(cli, real_study, exported, tmp_path):
    synthetic_study(real_study.tracking, "unfinished", [{"status": "FAILED", "error": "boom"}, {"status": "RUNNING", "history": {"bleu": [(10, 1.0)]}}])
    none = cli("export", "unfinished", "--out", tmp_path / "x", "--tracking-uri", real_study.uri)
    assert none.exit_code == 2
    assert none.stderr == "error: export needs a finished trial with a checkpoint, but study 'unfinished' has none (1 FAILED, 1 RUNNING)\n"
    unknown = cli("export", "nope", "--out", tmp_path / "y", "--tracking-uri", real_study.uri)
    assert unknown.exit_code == 2 and "known studies:" in unknown.stderr and real_study.name in unknown.stderr
    trial = cli("export", real_study.name, "--trial", "99999", "--out", tmp_path / "z", "--tracking-uri", real_study.uri)
    assert trial.exit_code == 2 and "--trial must name one trial of the study, but no trial match" in trial.stderr
    out, _ = exported
    again = cli("export", real_study.name, "--out", out, "--tracking-uri", real_study.uri)
    assert again.exit_code == 2 and "--force" in again.stderr
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "notes.txt").write_text("hi")
    bad = cli("predict", junk, input="hello\n")
    assert bad.exit_code == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert bad.stderr.startswith("error: SOURCE must be an export folder with config.json, model.safetensors, tokenizer.json")
    checkpoint = tmp_path / "checkpoint"
    shutil.copytree(out, checkpoint)
    config = json.loads((checkpoint / "config.json").read_text())
    (checkpoint / "config.json").write_text(json.dumps({**config, "format": "tfcli-checkpoint/1"}))
    hint = cli("predict", checkpoint, input="hello\n")
    assert hint.exit_code == 2 and "export it with `tfcli export`" in hint.stderr
    missing = cli("predict", tmp_path / "nowhere", input="hello\n")
    assert missing.exit_code == 2 and "is not a folder" in missing.stderr
    no_input = cli("predict", out, "--input", tmp_path / "none.txt")
    assert no_input.exit_code == 2 and "--input must be a readable file" in no_input.stderr
    no_model = cli("predict", "models:/no-such-model@best", "--tracking-uri", real_study.uri, input="x\n")
    assert no_model.exit_code == 2 and "models:/no-such-model@best" in no_model.stderr
