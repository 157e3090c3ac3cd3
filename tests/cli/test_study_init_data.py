"""Issue 27, acceptance 2: `tfcli study init --data` sizes the template from the data. Two
corpora of different sizes and lengths (short sentences with a long tail) give templates whose
vocabulary and length limits differ from each other and from the built-in template's and follow
from the data; `tfcli study validate` accepts the file from another working folder."""

from __future__ import annotations

import math
import random

import pytest
import yaml

from tfcli.data.profile_sizing import MIN_VOCAB
from tfcli.spec.load import load_spec

pytestmark = pytest.mark.timeout(180)

WORDS = [f"{a}{b}" for a in ("ka", "lo", "mi", "nu", "po", "ra", "se", "ti", "vu", "ze") for b in ("da", "fe", "gi", "ho", "ju", "ke", "lu", "ma", "ne", "ri", "so", "ta")]


def corpus(path, lines: int, mean_words: float, seed: int) -> None:
    """Classification lines shaped like real text: mostly short sentences, a long tail, a
    Zipf-like choice of words (the first ones far more often)."""
    r = random.Random(seed)
    vocabulary = [f"{w}{i}" if i else w for i in range(30) for w in WORDS]
    out = []
    for _ in range(lines):
        n = min(1 + int(r.lognormvariate(math.log(mean_words), 0.6)), 400)
        words = [vocabulary[min(int(r.paretovariate(0.8)) - 1, len(vocabulary) - 1)] for _ in range(n)]
        out.append(" ".join(words).capitalize() + ".\t" + r.choice(("news", "sport", "tech")))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out) + "\n", encoding="utf-8")


def _init(cli, tmp_path, name: str, *data: str):
    result = cli("study", "init", name, "--task", "classification", "--dir", tmp_path / "studies", *data)
    assert result.exit_code == 0, result.output
    return yaml.safe_load((tmp_path / "studies" / f"{name}.yaml").read_text())


def test_templates_follow_the_data_and_validate_from_elsewhere(cli, tmp_path, monkeypatch):
    corpus(tmp_path / "data" / "big.tsv", 20_000, 14, seed=1)
    corpus(tmp_path / "data" / "small.tsv", 3_000, 6, seed=2)
    corpus(tmp_path / "data" / "small-test.tsv", 200, 5, seed=3)
    monkeypatch.chdir(tmp_path)
    big = _init(cli, tmp_path, "big", "--data", "data/big.tsv")
    small = _init(cli, tmp_path, "small", "--data", "data/small.tsv", "--test", "data/small-test.tsv")
    _init(cli, tmp_path, "plain")

    assert big["task"]["data"] == {"train": "../data/big.tsv"}
    assert small["task"]["data"] == {"train": "../data/small.tsv", "test": "../data/small-test.tsv"}
    resolved = [load_spec(tmp_path / "studies" / f"{name}.yaml").data for name in ("big", "small", "plain")]
    sizes = [(d.vocab_size, d.max_source_length) for d in resolved]
    assert len({v for v, _ in sizes}) == 3 and len({m for _, m in sizes}) == 3, sizes
    assert big["data"]["vocab_size"] > small["data"]["vocab_size"] >= MIN_VOCAB
    assert big["data"]["max_source_length"] > small["data"]["max_source_length"]
    assert big["train"]["max_steps"] > small["train"]["max_steps"]

    # the limits follow from the data: about 1% of training texts are cut at them
    for name, template in (("big", big), ("small", small)):
        profile = cli("data", "inspect", f"studies/{name}.yaml", "--format", "json")
        assert profile.exit_code == 0, profile.output
        share = yaml.safe_load(profile.stdout)["splits"]["train"]["truncated_share"]
        assert share <= 0.011, (name, share)
        assert template["model"]["max_length"] >= template["data"]["max_source_length"]
    assert {"train.lr", "train.warmup_steps", "train.batch_tokens", "model.encoder_layers", "model.d_model", "model.heads",
            "model.dropout", "train.label_smoothing"} <= set(big["search"]["parameters"])

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    for name in ("big", "small"):
        checked = cli("study", "validate", tmp_path / "studies" / f"{name}.yaml")
        assert checked.exit_code == 0, checked.output
        assert "valid study" in checked.stdout


def test_data_options_need_data(cli, tmp_path):
    result = cli("study", "init", "x", "--task", "classification", "--dir", tmp_path, "--test", "t.tsv")
    assert result.exit_code == 2 and "--valid and --test go with --data TRAIN" in result.stderr
