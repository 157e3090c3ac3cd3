"""benchmarks/real_corpus.py, the first step of docs/real-data.md: the standard library's
docstrings become train/valid/test files that `tfcli data inspect` finds sized as the page
says, with every chapter in every split and no input shared between splits. No Ray."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(120)

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "real_corpus.py"


@pytest.fixture(scope="module")
def real_corpus():
    spec = importlib.util.spec_from_file_location("bench_real_corpus", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # NamedTuple looks its module up while the script loads
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def test_corpus_builds_deterministically_without_leakage(real_corpus, cli, tmp_path, monkeypatch):
    examples = real_corpus.collect()
    splits = real_corpus.split(examples, seed=0)
    assert splits == real_corpus.split(examples, seed=0) and splits != real_corpus.split(examples, seed=1)
    real_corpus.write(splits, tmp_path)
    monkeypatch.chdir(tmp_path)

    result = cli("data", "inspect", "train.tsv", "valid.tsv", "test.tsv", "--task", "classification", "--format", "json")
    assert result.exit_code == 0, result.output
    profile = json.loads(result.stdout)["splits"]
    chapters = set(real_corpus.CHAPTERS)
    assert len(examples) >= 4000  # the page's "about 6,700": a study has something to learn from
    assert [profile[s]["examples"] for s in ("train", "valid", "test")] == [len(splits[s]) for s in ("train", "valid", "test")]
    assert profile["valid"]["labels"] == profile["test"]["labels"]  # each chapter cut 80/10/10
    for name in ("train", "valid", "test"):
        assert set(profile[name]["labels"]) == chapters, name
        assert profile[name]["leaks"] == [] and profile[name]["duplicates"] == [], name
    assert min(profile["valid"]["labels"].values()) >= 20
    assert 0.78 <= profile["train"]["examples"] / len(examples) <= 0.82
