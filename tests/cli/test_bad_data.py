"""Issue 16, defect 8: bad data in a study's files is one FILE:LINE line and exit 2 from
`study validate` and `study start`, before Ray starts or anything is written to the store.
Issue 27: so are a 10 MB line that holds a tab, a line whose fields are only spaces, and a line
over `data.max_line_length`, each in under 5 s, leaving the study's name free."""

from __future__ import annotations

import time

import pytest

from tfcli.spec.load import load_spec
from tfcli.study.lifecycle import check_new_study

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


GOOD_CLASSIFICATION = "".join(f"text {i}\t{'pos' if i % 2 else 'neg'}\n" for i in range(40))

# case: (task, data, extra study lines, files, FILE:LINE, what the line must say)
ISSUE_27 = {
    "tsv-10-mb-line-with-a-tab": (
        "translation", "{train: d/train.tsv}", "", {"d/train.tsv": GOOD_TSV + "x" * 10_000_000 + "\ty\n"},
        "d/train.tsv:41", "a line of 10,000,002 characters is longer than data.max_line_length (100,000)",
    ),
    "tsv-fields-only-spaces": (
        "translation", "{train: d/train.tsv}", "", {"d/train.tsv": GOOD_TSV + "   \t   \n"},
        "d/train.tsv:41", "empty source (only spaces)",
    ),
    "csv-fields-only-spaces": (
        "classification", "{train: d/train.csv}", "", {"d/train.csv": "text,label\n" + GOOD_CLASSIFICATION.replace("\t", ",") + " , \n"},
        "d/train.csv:42", "empty text (only spaces)",
    ),
    "jsonl-fields-only-spaces": (
        "translation", "{train: d/train.jsonl}", "", {"d/train.jsonl": '{"source": "a", "target": "b"}\n' * 40 + '{"source": "  ", "target": "  "}\n'},
        "d/train.jsonl:41", "empty source (only spaces)",
    ),
    "line-over-the-study-limit": (
        "classification", "{train: d/train.tsv, valid: d/valid.tsv}", "data: {max_line_length: 500}\n",
        {"d/train.tsv": GOOD_CLASSIFICATION, "d/valid.tsv": "".join(GOOD_CLASSIFICATION.splitlines(True)[:4]) + "w " * 300 + "\tpos\n"},
        "d/valid.tsv:5", "a line of 604 characters is longer than data.max_line_length (500); shorten or remove it, or raise data.max_line_length",
    ),
}


def _project(tmp_path, task, data, files, extra=""):
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    study = tmp_path / "study.yaml"
    study.write_text(STUDY.format(task=task, data=data) + extra)
    return study


def _assert_refused(result, tmp_path, where) -> str:
    """Exit 2, one line naming ``where`` (FILE:LINE), no traceback, no store: the line."""
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output, result.stderr
    assert str(tmp_path / where) in lines[0] or where in lines[0], lines[0]
    assert not (tmp_path / "mlruns").exists()  # no store, no Ray state: nothing was started
    return lines[0]


@pytest.fixture
def ray_inits(monkeypatch):
    """The calls to ``ray.init`` (each refused, so that a broken check cannot run a study)."""
    import ray

    calls = []

    def init(*args, **kwargs):
        calls.append((args, kwargs))
        raise RuntimeError("ray.init was called: Ray would have started")

    monkeypatch.setattr(ray, "init", init)
    return calls


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("command", ["validate", "start"])
def test_bad_data_is_one_line_and_exit_2_before_anything_starts(cli, tmp_path, monkeypatch, case, command):
    task, data, files, where = CASES[case]
    study = _project(tmp_path, task, data, files)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    result = cli("study", command, study)
    _assert_refused(result, tmp_path, where)


@pytest.mark.parametrize("case", sorted(ISSUE_27))
@pytest.mark.parametrize("command", ["validate", "start"])
def test_issue_27_bad_data_is_refused_in_under_5s_before_ray_and_the_name_stays_free(
    cli, tmp_path, monkeypatch, ray_inits, case, command
):
    task, data, extra, files, where, says = ISSUE_27[case]
    study = _project(tmp_path, task, data, files, extra)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    started = time.monotonic()
    result = cli("study", command, study)
    took = time.monotonic() - started
    line = _assert_refused(result, tmp_path, where)
    assert says in line, line
    assert took < 5, f"refused after {took:.1f} s"
    assert ray_inits == []
    if command == "start":  # the name is free: with the bad line gone, the pre-flight of a new study passes
        for name, content in files.items():
            (tmp_path / name).write_text(content.rsplit("\n", 2)[0] + "\n")
        check_new_study(load_spec(study), None)


def test_good_files_validate(cli, tmp_path):
    study = _project(tmp_path, "translation", "{train: d/train.tsv}", {"d/train.tsv": GOOD_TSV})
    result = cli("study", "validate", study)
    assert result.exit_code == 0, result.output
