"""`tfcli predict` and `load_export` refuse damaged or hostile export folders in one line.

One real (tiny, one training step) export folder is built per module with the code
``tfcli export`` uses; each case copies it and damages one thing. Each must give exit code 2
and exactly one line on stderr from ``python -m tfcli predict``, the same refusal from
:func:`tfcli.export.load_export`, and write nothing anywhere.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180), pytest.mark.filterwarnings("ignore::tfcli.data.encode.TruncationWarning")]

ROOT = Path(__file__).resolve().parents[2]
INPUTS = "03/04/2020\n2019-12-01\n"


@pytest.fixture(scope="module")
def valid_export(tmp_path_factory) -> Path:
    """A real export folder of a tiny translation model trained for one step."""
    from tfcli.export import export_config, model_card
    from tfcli.records import TrialRecord, TrialStatus
    from tfcli.spec.schema import StudySpec
    from tfcli.train.checkpoint import read_config, read_outputs
    from tfcli.train.loop import Trainer

    root = tmp_path_factory.mktemp("valid-export")
    spec = StudySpec.model_validate(
        {
            "name": "damaged-exports",
            "task": {"type": "translation", "data": "builtin:dates"},
            "data": {"train_size": 32, "valid_size": 4, "test_size": 4, "vocab_size": 100},
            "model": {"d_model": 16, "heads": 2, "encoder_layers": 1, "decoder_layers": 1, "ffn_dim": 32},
            "train": {"max_steps": 1, "eval_every": 1, "warmup_steps": 1, "batch_tokens": 512},
        }
    )
    checkpoint = Trainer(spec, root / "run").fit().best.checkpoint
    record = TrialRecord(study="s", study_id="sid", trial_id="t_00000", run_id="r", status=TrialStatus.FINISHED, checkpoint_step=1)
    metrics = json.loads((checkpoint / "metrics.json").read_text())
    config = export_config(read_config(checkpoint), record=record, study=None, tracking_uri="sqlite:///x.db", logged_metrics=metrics, outputs=read_outputs(checkpoint))
    folder = root / "export"
    folder.mkdir()
    for name in ("model.safetensors", "tokenizer.json"):
        shutil.copyfile(checkpoint / name, folder / name)
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (folder / "README.md").write_text(model_card(config))
    shutil.rmtree(root / "run")
    return folder


# ------------------------------------------------------------------------------ damage


def edit_config(change):
    def damage(folder: Path) -> None:
        config = json.loads((folder / "config.json").read_text())
        change(config)
        (folder / "config.json").write_text(json.dumps(config))

    return damage


def write_config(data: bytes):
    def damage(folder: Path) -> None:
        (folder / "config.json").write_bytes(data)

    return damage


def _split_weights(folder: Path) -> tuple[dict, bytes]:
    raw = (folder / "model.safetensors").read_bytes()
    n = int.from_bytes(raw[:8], "little")
    return json.loads(raw[8 : 8 + n]), raw[8 + n :]


def edit_header(change):
    """Rewrite the safetensors header (the data bytes stay as they are)."""

    def damage(folder: Path) -> None:
        header, data = _split_weights(folder)
        change(header)
        text = json.dumps(header).encode()
        text += b" " * (-len(text) % 8)
        (folder / "model.safetensors").write_bytes(len(text).to_bytes(8, "little") + text + data)

    return damage


def header_length(length: int):
    def damage(folder: Path) -> None:
        raw = (folder / "model.safetensors").read_bytes()
        (folder / "model.safetensors").write_bytes(length.to_bytes(8, "little") + raw[8:])

    return damage


def garbage_header(folder: Path) -> None:
    raw = (folder / "model.safetensors").read_bytes()
    n = int.from_bytes(raw[:8], "little")
    (folder / "model.safetensors").write_bytes(raw[:8] + b"{" + b"\x00" * (n - 1) + raw[8 + n :])


def first_tensor(header: dict) -> str:
    return sorted(k for k in header if k != "__metadata__")[0]


def offsets_past_end(header: dict) -> None:
    name = first_tensor(header)
    header[name]["data_offsets"] = [header[name]["data_offsets"][0], 10**9]


def rename_tensor(header: dict) -> None:
    header["encoder.not_a_layer.weight"] = header.pop(first_tensor(header))


def symlink_weights(folder: Path) -> None:
    elsewhere = folder.parent / "elsewhere.safetensors"
    shutil.move(folder / "model.safetensors", elsewhere)
    (folder / "model.safetensors").symlink_to(elsewhere)


def symlink_config(folder: Path) -> None:
    elsewhere = folder.parent / "elsewhere.json"
    shutil.move(folder / "config.json", elsewhere)
    (folder / "config.json").symlink_to(elsewhere)


def symlink_folder(folder: Path) -> None:
    real = folder.parent / "real"
    shutil.move(folder, real)
    folder.symlink_to(real, target_is_directory=True)


def weights_folder(folder: Path) -> None:
    (folder / "model.safetensors").unlink()
    (folder / "model.safetensors").mkdir()


def garbage_tokenizer(folder: Path) -> None:
    (folder / "tokenizer.json").write_text('{"model": {"type": "NoSuchModel"}}')


def nested_list(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


def deep_raw_config(folder: Path) -> None:
    text = (folder / "config.json").read_text().rstrip().rstrip("}")
    (folder / "config.json").write_text(text + ', "deep": ' + "[" * 200_000 + "]" * 200_000 + "}")


def set_path(path: str, value):
    def change(config: dict) -> None:
        *parents, last = path.split(".")
        node = config
        for key in parents:
            node = node[key]
        node[last] = value

    return change


def several(*changes):
    def change(config: dict) -> None:
        for c in changes:
            c(config)

    return change


# (id, damage, a phrase the one line must hold, the file it must name)
CASES = [
    ("config-not-json", write_config(b'{"format": "tfcli-export/1", "task":'), "must be JSON, but it does not parse", "config.json"),
    ("config-recursion", deep_raw_config, "nested far deeper", "config.json"),
    ("config-nested-deep", edit_config(set_path("provenance.deep", nested_list(100))), "nested at most 64 levels deep, but it is nested deeper", "config.json"),
    ("config-not-utf8", write_config(b'{"format": "\xff\xfe"}'), "must be UTF-8 JSON", "config.json"),
    ("config-huge", write_config(b"{" + b" " * (9 * 1024 * 1024) + b"}"), "must be at most", "config.json"),
    ("config-extra-key", edit_config(set_path("surprise", 1)), "surprise: Extra inputs are not permitted", "config.json"),
    ("model-extra-key", edit_config(set_path("model.dropout_rate", 0.1)), "model.dropout_rate: Extra inputs are not permitted", "config.json"),
    ("model-wrong-type", edit_config(set_path("model.d_model", "16")), "model.d_model: Input should be a valid integer", "config.json"),
    ("labels-wrong-type", edit_config(set_path("labels", "positive,negative")), "labels: Input should be a valid list", "config.json"),
    ("vocab-10e12", edit_config(set_path("model.vocab_size", 10**12)), "model.vocab_size: Input should be less than or equal to", "config.json"),
    ("d-model-2e40", edit_config(set_path("model.d_model", 2**40)), "model.d_model: Input should be less than or equal to 8192", "config.json"),
    (
        "too-many-parameters",
        edit_config(several(set_path("model.vocab_size", 1_000_000), set_path("model.d_model", 4096))),
        "the model must have at most 2e+09 parameters",
        "config.json",
    ),
    ("unknown-task", edit_config(set_path("task", "poetry")), "task: Input should be", "config.json"),
    (
        "empty-labels",
        edit_config(several(set_path("task", "classification"), set_path("model.kind", "classifier"), set_path("labels", []))),
        "labels must list the classes",
        "config.json",
    ),
    ("kind-task-mismatch", edit_config(set_path("model.kind", "span")), "model.kind must be 'seq2seq' for task 'translation'", "config.json"),
    ("bad-study-spec", edit_config(set_path("study_spec.train.lr", "fast")), "study_spec.train.lr", "config.json"),
    ("symlinked-weights", symlink_weights, "symbolic link", "model.safetensors"),
    ("symlinked-config", symlink_config, "symbolic link", "config.json"),
    ("symlinked-folder", symlink_folder, "is a symbolic link", "case"),
    ("weights-not-a-file", weights_folder, "must be regular files", "model.safetensors"),
    ("header-huge", header_length(2**62), "header must be at most 104857600 bytes", "model.safetensors"),
    ("header-past-end", header_length(1_000_000), "header must fit in the file", "model.safetensors"),
    ("header-malformed", garbage_header, "the safetensors header must be JSON", "model.safetensors"),
    ("header-offsets-outside", edit_header(offsets_past_end), "must lie inside the file", "model.safetensors"),
    ("unexpected-tensor", edit_header(rename_tensor), "holds tensor 'encoder.not_a_layer.weight'", "model.safetensors"),
    ("weights-too-small", edit_config(set_path("model.d_model", 32)), "the weights hold", "model.safetensors"),
    ("shape-mismatch", edit_config(set_path("model.ffn_dim", 16)), "has shape", "model.safetensors"),
    ("tokenizer-garbage", garbage_tokenizer, "not a tokenizer file", "tokenizer.json"),
]


def listing(root: Path) -> list[tuple]:
    """Every entry under ``root`` (not following links), with its size and modification time."""
    entries = []
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(directory, name)
            info = path.lstat()
            entries.append((str(path.relative_to(root)), info.st_size, info.st_mtime_ns))
    return sorted(entries)


def run_predict(folder: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    inputs = tmp_path / "inputs.txt"
    if not inputs.exists():
        inputs.write_text(INPUTS)
    (tmp_path / "tmp").mkdir(exist_ok=True)
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp"), "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("TFCLI_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "tfcli", "predict", str(folder), "--input", str(inputs)],
        capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path,
    )  # fmt: skip


def test_case_count():
    assert len(CASES) >= 25 and len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("name, damage, phrase, file", CASES, ids=[c[0] for c in CASES])
def test_damaged_export_is_refused_in_one_line(valid_export, tmp_path, name, damage, phrase, file):
    from tfcli.export import ExportError, load_export

    folder = tmp_path / "case"
    shutil.copytree(valid_export, folder)
    damage(folder)
    (tmp_path / "inputs.txt").write_text(INPUTS)
    (tmp_path / "tmp").mkdir()
    before = listing(tmp_path)

    result = run_predict(folder, tmp_path)
    lines = result.stderr.splitlines()
    assert result.returncode == 2, result.stderr[-3000:]
    assert len(lines) == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and result.stdout == ""
    line = lines[0]
    assert line.startswith("error: ") and phrase in line and file in line, line
    assert len(line) < 600, line
    assert listing(tmp_path) == before  # nothing written, inside the folder or out

    with pytest.raises(ExportError) as caught:
        load_export(folder)
    assert f"error: {caught.value}" == line
    assert listing(tmp_path) == before


@pytest.mark.timeout(180)
def test_valid_export_still_predicts(valid_export, tmp_path):
    from tfcli.export import load_export, read_inputs

    folder = tmp_path / "case"
    shutil.copytree(valid_export, folder)
    (tmp_path / "inputs.txt").write_text(INPUTS)
    (tmp_path / "tmp").mkdir()
    before = listing(tmp_path)
    result = run_predict(folder, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(result.stdout.splitlines()) == 2 and "Traceback" not in result.stderr
    assert listing(tmp_path) == before
    model = load_export(folder)
    predictions = model.predict(read_inputs("translation", INPUTS.splitlines()))
    assert predictions == result.stdout.splitlines()
