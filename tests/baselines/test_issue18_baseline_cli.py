"""Issue 18: ``tfcli baseline FILE``: the results as JSON, and bad input as one line and exit 2."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.timeout(120)

STUDY = """\
name: cli-baselines
task:
  type: classification
  data: {{train: {train}, valid: valid.tsv}}
"""


def write_study(tmp_path, train_text: str, valid_text: str = "fine day\tpos\nawful day\tneg\n"):
    (tmp_path / "train.tsv").write_bytes(train_text.encode("utf-8") if isinstance(train_text, str) else train_text)
    (tmp_path / "valid.tsv").write_text(valid_text, encoding="utf-8")
    path = tmp_path / "study.yaml"
    path.write_text(STUDY.format(train="train.tsv"), encoding="utf-8")
    return path


GOOD_TRAIN = "".join(f"{'fine' if i % 2 else 'awful'} thing {i}\t{'pos' if i % 2 else 'neg'}\n" for i in range(40))


def test_json_lists_each_baseline_on_valid_and_test(cli, tmp_path):
    result = cli("baseline", write_study(tmp_path, GOOD_TRAIN), "--format", "json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert [(b["name"], b["split"]) for b in payload["baselines"]] == [
        ("majority_class", "valid"), ("majority_class", "test"), ("tfidf_logreg", "valid"), ("tfidf_logreg", "test"),
    ]
    assert payload["objective"] == {"metric": "accuracy", "mode": "max"}
    # the words decide the label exactly: the linear model gets the two validation texts right
    assert payload["best"] == {"name": "tfidf_logreg", "split": "valid", "value": 100.0}


@pytest.mark.parametrize(
    "train, message",
    [
        ("good\tpos\nno tab here\n", "train.tsv:2: expected 2 tab-separated fields"),
        (b"good\tpos\n\xff\xfe bad\tneg\n", "train.tsv:2: not UTF-8 text"),
    ],
)
def test_unreadable_data_is_one_line_and_exit_2_as_study_validate_gives(cli, tmp_path, train, message):
    study = write_study(tmp_path, train)
    result = cli("baseline", study)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    validate = cli("study", "validate", study)
    assert validate.exit_code == 2 and validate.stderr.strip() == result.stderr.strip()


def test_missing_data_file_and_bad_study_file_exit_2(cli, tmp_path):
    study = write_study(tmp_path, GOOD_TRAIN)
    (tmp_path / "valid.tsv").unlink()
    missing = cli("baseline", study)
    assert missing.exit_code == 2 and "study.yaml:4: task.data.valid: data file not found" in missing.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntask: {type: classification, data: builtin:sentiment}\ntrain: {lr: -1}\n", encoding="utf-8")
    result = cli("baseline", bad)
    assert result.exit_code == 2 and "bad.yaml:3: train.lr" in result.stderr


def test_help_is_listed_and_light(cli):
    from tests.cli.test_cli import HEAVY, _imported_after

    assert "  baseline " in cli("--help").stdout
    loaded = _imported_after(["baseline", "--help"])
    assert not loaded & {*HEAVY, "sklearn"}, loaded & {*HEAVY, "sklearn"}
