"""Issue 27, acceptance 1: `tfcli data inspect` reports exactly the train/test pairs planted in
the files (one exact, one equal up to case and whitespace) with FILE:LINE of both sides, in
text and in JSON, besides the profile of each split. No Ray."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.timeout(120)

TRAIN = [f"a training sentence number {i} about things\t{'pos' if i % 3 else 'neg'}" for i in range(60)]
TRAIN[9] = "The quick brown fox jumps\tpos"  # line 10: shared exactly with test line 2
TRAIN[19] = "Hello there   General Kenobi\tneg"  # line 20: shared with test line 4 up to case and spaces
TRAIN.insert(30, "")  # line 31: empty
TRAIN.insert(40, "   ")  # line 41: whitespace only
TRAIN.append(TRAIN[4])  # line 63: repeats line 5

VALID = [f"a validation sentence {i}\tpos" for i in range(5)]
TEST = [
    "a test sentence 0\tneg",
    "The quick brown fox jumps\tneg",
    "a test sentence 2\tpos",
    "hello there general  KENOBI\tneg",
    "the quick brown fox jumps.\tpos",  # differs by more than case and spaces: not a leak
]


@pytest.fixture
def data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name, lines in (("train.tsv", TRAIN), ("valid.tsv", VALID), ("test.tsv", TEST)):
        (tmp_path / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return tmp_path


def test_inspect_lists_exactly_the_planted_pairs(cli, data):
    result = cli("data", "inspect", "train.tsv", "valid.tsv", "test.tsv", "--task", "classification")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "Leakage: test examples whose input train has: 2" in text
    assert "test.tsv:2 = train.tsv:10 (exact)" in text
    assert "test.tsv:4 = train.tsv:20 (equal up to case and whitespace)" in text
    assert "test.tsv:5" not in text and "valid examples whose input" not in text
    assert "train.tsv:63 = train.tsv:5 (exact)" in text
    assert "Empty lines in train.tsv: 1\n  train.tsv:31" in text
    assert "Whitespace-only lines in train.tsv: 1\n  train.tsv:41" in text

    payload = json.loads(cli("data", "inspect", "train.tsv", "valid.tsv", "test.tsv", "--task", "classification", "--format", "json").stdout)
    splits = payload["splits"]
    assert splits["test"]["leaks"] == [
        {"kind": "exact", "at": "test.tsv:2", "first": "train.tsv:10"},
        {"kind": "normalised", "at": "test.tsv:4", "first": "train.tsv:20"},
    ]
    assert splits["valid"]["leaks"] == [] and splits["train"]["leaks"] == []
    assert splits["train"]["duplicates"] == [{"kind": "exact", "at": "train.tsv:63", "first": "train.tsv:5"}]
    assert [splits[s]["examples"] for s in ("train", "valid", "test")] == [61, 5, 5]
    assert splits["train"]["labels"] == {"neg": 20, "pos": 41}
    assert payload["files"]["train.tsv"] == {"empty": [31], "whitespace_only": [41], "over_long": []}
    tokens = splits["train"]["tokens"]["text"]
    assert 0 < tokens["p50"] <= tokens["p90"] <= tokens["p99"] <= tokens["max"]
    assert payload["limits"]["max_source_length"] == 128 and payload["tokenizer"]["vocab_size"] == 1000  # the data defaults


def test_a_study_file_gives_its_settings_and_over_long_lines_are_listed(cli, data):
    (data / "study.yaml").write_text(
        "name: s\ntask: {type: classification, data: {train: train.tsv, test: test.tsv}}\n"
        "data: {vocab_size: 200, max_source_length: 4, max_line_length: 40}\n"
    )
    payload = json.loads(cli("data", "inspect", "study.yaml", "--format", "json").stdout)
    assert payload["tokenizer"]["vocab_size"] == 200 and payload["limits"]["max_source_length"] == 4
    train = payload["splits"]["train"]
    assert train["truncated"] > 0 and payload["splits"]["valid"]["carved"]
    assert payload["files"][str(data / "train.tsv")]["over_long"][0]["line"] == 1  # 44 characters > 40
    leaks = {leak["at"].rsplit("/", 1)[-1] for leak in payload["splits"]["test"]["leaks"]}
    assert leaks <= {"test.tsv:2", "test.tsv:4"}  # a pair may have been carved into valid


def test_user_errors_are_one_line(cli, data):
    missing = cli("data", "inspect", "nope.tsv", "--task", "classification")
    assert missing.exit_code == 2 and "nope.tsv: no such file" in missing.stderr
    no_task = cli("data", "inspect", "train.tsv")
    assert no_task.exit_code == 2 and "--task must be one of" in no_task.stderr
