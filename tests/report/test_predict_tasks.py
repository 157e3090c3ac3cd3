"""Predicting from an export reproduces a checkpoint's validation outputs, for every task.

No Ray and no MLflow: a few training steps with the plain loop, an export folder built from
the checkpoint with the same function ``tfcli export`` uses, then ``ExportedModel.predict``.
"""

from __future__ import annotations

import json
import shutil

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120), pytest.mark.filterwarnings("ignore::tfcli.data.encode.TruncationWarning")]

SIZES = {"train_size": 64, "valid_size": 12, "test_size": 4, "vocab_size": 120}


def _export_from_checkpoint(checkpoint, folder):
    from tfcli.export import export_config, model_card
    from tfcli.records import TrialRecord, TrialStatus
    from tfcli.train.checkpoint import read_config, read_outputs

    record = TrialRecord(study="s", study_id="sid", trial_id="t_00000", run_id="r", status=TrialStatus.FINISHED, checkpoint_step=4)
    metrics = json.loads((checkpoint / "metrics.json").read_text())
    config = export_config(read_config(checkpoint), record=record, study=None, tracking_uri="sqlite:///x.db", logged_metrics=metrics, outputs=read_outputs(checkpoint))
    folder.mkdir()
    for name in ("model.safetensors", "tokenizer.json"):
        shutil.copyfile(checkpoint / name, folder / name)
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "README.md").write_text(model_card(config))
    return config


@pytest.mark.parametrize(
    "task, data, model",
    [
        ("summarization", "builtin:headlines", {"d_model": 32, "heads": 2, "encoder_layers": 1, "decoder_layers": 1, "ffn_dim": 64}),
        ("classification", "builtin:sentiment", {"d_model": 32, "heads": 2, "encoder_layers": 1, "ffn_dim": 64}),
        ("qa", "builtin:facts", {"d_model": 32, "heads": 2, "encoder_layers": 1, "ffn_dim": 64}),
    ],
)
def test_export_predict_reproduces_validation_outputs(task, data, model, tmp_path):
    from tfcli.export import inputs_from_model_input, load_export, read_inputs
    from tfcli.spec.schema import StudySpec
    from tfcli.train.checkpoint import read_outputs
    from tfcli.train.loop import Trainer

    spec = StudySpec.model_validate(
        {
            "name": f"predict-{task}",
            "task": {"type": task, "data": data},
            "data": SIZES,
            "model": model,
            "train": {"max_steps": 4, "eval_every": 4, "warmup_steps": 1, "lr": 3e-3, "batch_tokens": 1024},
            "eval": {"batch_size": 5},
        }
    )
    trainer = Trainer(spec, tmp_path / "run")
    result = trainer.fit()
    checkpoint = result.best.checkpoint
    config = _export_from_checkpoint(checkpoint, tmp_path / "export")
    examples = trainer.data.encoded["valid"].examples
    if task == "qa":
        lines = [json.dumps({"context": e.context, "question": e.question}) for e in examples]
    elif task == "classification":
        lines = [e.text for e in examples]
    else:
        lines = [e.source for e in examples]
    inputs = read_inputs(task, lines)
    exported = load_export(tmp_path / "export")
    predictions = exported.predict(inputs)
    assert predictions == [o["prediction"] for o in read_outputs(checkpoint)]
    assert exported.predict(inputs, batch_size=1) == predictions
    if task == "classification":
        assert set(predictions) <= set(config["labels"])
    # what MLflow's pyfunc hands over (a DataFrame) reads the same
    import pandas as pd

    frame = pd.DataFrame(inputs if task == "qa" else {"text": inputs})
    assert inputs_from_model_input(task, frame) == inputs


def test_qa_input_lines_must_be_json_objects():
    from tfcli.errors import DataError
    from tfcli.export import read_inputs

    assert read_inputs("qa", ['{"context": "a b", "question": "q?"}', ""]) == [{"context": "a b", "question": "q?"}]
    with pytest.raises(DataError, match="input:1: qa input must be a JSON object"):
        read_inputs("qa", ["not json"])
    with pytest.raises(DataError, match="input:2: qa input must be a JSON object with string fields context and question"):
        read_inputs("qa", ['{"context": "a", "question": "b"}', '{"context": "a"}'])
    assert read_inputs("translation", ["one", "", "three"]) == ["one", "", "three"]
