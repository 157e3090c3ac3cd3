"""Issue 16, defect 8: bad data in a study's files is one FILE:LINE line and exit 2 from
`study validate` and `study start`, before Ray starts or anything is written to the store."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.timeout(120)

STUDY = """\
name: bad-data
task: {{type: {task}, data: {data}}}
model: {{d_model: 16, heads: 2, encoder_layers: 1, decoder_layers: 1, ffn_dim: 32}}
train: {{max_steps: 10, eval_every: 5}}
search: {{num_samples: 1, parameters: {{train.lr: {{values: [0.001]}}}}}}
"""

GOOD_TSV = "".join(f"source {i}\ttarget {i}\n" for i in range(40))

CASES = {
    "tsv-line-without-tab": ("translation", "{train: d/train.tsv}", {"d/train.tsv": GOOD_TSV + "no tab here\n"}, "d/train.tsv:41"),
    "bad-jsonl": ("translation", "{train: d/train.jsonl}", {"d/train.jsonl": '{"source": "a", "target": "b"}\n{"source": \n'}, "d/train.jsonl:2"),
    "empty-file": ("translation", "{train: d/train.tsv, valid: d/valid.tsv}", {"d/train.tsv": GOOD_TSV, "d/valid.tsv": ""}, "d/valid.tsv"),
    "csv-without-columns": ("translation", "{train: d/train.csv}", {"d/train.csv": "de,en\n" + "".join(f"a{i},b{i}\n" for i in range(40))}, "d/train.csv"),
    "not-utf8": ("translation", "{train: d/train.tsv}", {"d/train.tsv": GOOD_TSV.encode() + "ca\u00e7a\tx\n".encode("latin-1")}, "d/train.tsv:41"),
    "no-suffix": ("translation", "{train: d/train}", {"d/train": GOOD_TSV}, "d/train"),
}


def _project(tmp_path, task, data, files):
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    study = tmp_path / "study.yaml"
    study.write_text(STUDY.format(task=task, data=data))
    return study


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("command", ["validate", "start"])
def test_bad_data_is_one_line_and_exit_2_before_anything_starts(cli, tmp_path, monkeypatch, case, command):
    task, data, files, where = CASES[case]
    study = _project(tmp_path, task, data, files)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    result = cli("study", command, study)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output, result.stderr
    assert str(tmp_path / where) in lines[0] or where in lines[0], lines[0]
    assert not (tmp_path / "mlruns").exists()  # no store, no Ray state: nothing was started


def test_good_files_validate(cli, tmp_path):
    study = _project(tmp_path, "translation", "{train: d/train.tsv}", {"d/train.tsv": GOOD_TSV})
    result = cli("study", "validate", study)
    assert result.exit_code == 0, result.output
