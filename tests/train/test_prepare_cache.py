"""The encoded data is prepared once per machine: a later trial reads it back instead of the files.

A trial is a fresh process that calls :func:`tfcli.train.prepare.prepare`; these tests run
such processes and watch what they open (a Python audit hook) and how often they encode.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tfcli.data import encoded_cache
from tfcli.data.encoded_store import read
from tfcli.data.tokenizer import SubwordTokenizer
from tfcli.spec.load import load_spec
from tfcli.train.prepare import data_source, encoding_settings, prepare

pytestmark = pytest.mark.timeout(120)

WORDS = "the a small red old new cat dog house tree river town sees finds likes keeps".split()

#: What a trial does, watched: the data files it opens and the batches it encodes.
TRIAL = r"""
import hashlib, json, os, sys
data_dir = os.path.realpath(sys.argv[2])
opened = []

def audit(event, args):
    if event == "open" and isinstance(args[0], (str, os.PathLike)):
        path = os.path.realpath(os.fspath(args[0]))
        if path.startswith(data_dir):
            opened.append(path)

sys.addaudithook(audit)
from tfcli.data.tokenizer import SubwordTokenizer
encodes = []
plain = SubwordTokenizer.encode_batch
SubwordTokenizer.encode_batch = lambda self, texts: encodes.append(len(texts)) or plain(self, texts)
from tfcli.spec.load import load_spec
from tfcli.train.prepare import prepare

data = prepare(load_spec(sys.argv[1]))
ids = {s: [e.src, e.tgt] for s, e in data.encoded.items()}
digest = hashlib.sha256(json.dumps(ids).encode()).hexdigest()
print(json.dumps({"opened": opened, "encodes": len(encodes), "tokenizer": data.tokenizer.content_hash, "digest": digest}))
"""


def _write_pairs(path: Path, n: int, seed: int) -> None:
    lines = []
    for i in range(n):
        words = [WORDS[(i * 7 + j * seed) % len(WORDS)] for j in range(3 + (i * seed) % 9)]
        lines.append(f"{' '.join(words)}\t{' '.join(reversed(words))} {i}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    settled(path)


def settled(path: Path) -> None:
    """Date the file a minute back: data written before the study, not still changing."""
    past = time.time() - 60
    os.utime(path, (past, past))


@pytest.fixture
def study(tmp_path, monkeypatch):
    monkeypatch.setenv("TFCLI_CACHE", str(tmp_path / "cache"))
    data = tmp_path / "data"
    data.mkdir()
    for split, n in (("train", 240), ("valid", 30), ("test", 30)):
        _write_pairs(data / f"{split}.tsv", n, seed={"train": 3, "valid": 5, "test": 11}[split])
    text = (
        "name: cached\n"
        "task: {type: translation, data: {train: data/train.tsv, valid: data/valid.tsv, test: data/test.tsv}}\n"
        "data: {vocab_size: 120, max_source_length: 8, max_target_length: 10}\n"
        "objective: {metric: bleu}\n"
    )
    (tmp_path / "study.yaml").write_text(text, encoding="utf-8")
    encoded_cache.forget()
    yield tmp_path
    encoded_cache.forget()


def _entries(root: Path) -> list[Path]:
    return sorted((root / "cache" / "encoded").glob("*.safetensors"))


def test_two_trials_starting_together_read_and_encode_the_files_once(study):
    """Two fresh trial processes on a cold cache: one reads and encodes, the other reads its result."""
    cmd = [sys.executable, "-c", TRIAL, str(study / "study.yaml"), str(study / "data")]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=100)
        assert proc.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    builders = [r for r in results if r["encodes"]]
    readers = [r for r in results if not r["encodes"]]
    assert len(builders) == 1 and len(readers) == 1, results
    assert sorted(Path(p).name for p in builders[0]["opened"]) == ["test.tsv", "train.tsv", "valid.tsv"]
    assert readers[0]["opened"] == []
    assert readers[0]["tokenizer"] == builders[0]["tokenizer"]
    assert readers[0]["digest"] == builders[0]["digest"]
    assert len(_entries(study)) == 1


def _counting(monkeypatch) -> list[int]:
    calls: list[int] = []
    plain = SubwordTokenizer.encode_batch
    monkeypatch.setattr(SubwordTokenizer, "encode_batch", lambda self, texts: calls.append(1) or plain(self, texts))
    return calls


def _spec(root: Path, **data: int):
    text = (root / "study.yaml").read_text(encoding="utf-8")
    settings = ", ".join(f"{k}: {v}" for k, v in {"vocab_size": 120, "max_source_length": 8, "max_target_length": 10, **data}.items())
    custom = root / "custom.yaml"
    custom.write_text(text.replace(text.splitlines()[2], f"data: {{{settings}}}"), encoding="utf-8")
    return load_spec(custom)


def _flip_a_token(data: bytes) -> bytes:
    """The file with one bit of a training token id flipped: every structure still sound."""
    size = int.from_bytes(data[:8], "little")
    start = 8 + size + json.loads(data[8 : 8 + size])["train.src"]["data_offsets"][0]
    return data[:start] + bytes([data[start] ^ 1]) + data[start + 1 :]


def _encodes(calls: list[int], spec) -> tuple[int, object]:
    calls.clear()
    data = prepare(spec)
    return len(calls), data


def test_settings_and_files_that_change_the_encoding_rebuild_and_damage_is_never_trusted(study, monkeypatch, caplog):
    calls = _counting(monkeypatch)
    spec = _spec(study)
    n, first = _encodes(calls, spec)
    assert n > 0 and len(_entries(study)) == 1
    assert _encodes(calls, spec)[0] == 0  # the same process: from memory
    encoded_cache.forget()
    n, again = _encodes(calls, spec)
    assert n == 0 and again.encoded == first.encoded  # from disk
    assert again.tokenizer.content_hash == first.tokenizer.content_hash

    assert _encodes(calls, _spec(study, vocab_size=150))[0] > 0
    n, longer = _encodes(calls, _spec(study, max_source_length=12))
    assert n > 0 and longer.encoded["train"].src != first.encoded["train"].src
    assert len(_entries(study)) == 3

    key, _ = encoded_cache.entry_key(data_source(spec), encoding_settings(spec))
    entry = encoded_cache.entry_path(key)
    for damage in (lambda b: b[: len(b) // 2], _flip_a_token):
        entry.write_bytes(damage(entry.read_bytes()))
        encoded_cache.forget()
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="tfcli.data"):
            n, rebuilt = _encodes(calls, spec)
        assert n > 0 and rebuilt.encoded == first.encoded
        assert "damaged encoded-data cache entry" in caplog.text
        assert read(entry, key).encoded == first.encoded  # overwritten whole

    train = study / "data" / "train.tsv"
    train.write_text(train.read_text(encoding="utf-8").replace("\t", "\tx ", 1), encoding="utf-8")
    later = time.time() + 3600  # "modified just now" however slowly this test runs
    os.utime(train, (later, later))
    n, changed = _encodes(calls, spec)  # may still change unseen: encoded, not cached
    assert n > 0 and changed.encoded["train"].tgt[0] != first.encoded["train"].tgt[0]
    assert len(_entries(study)) == 3
    settled(train)
    assert _encodes(calls, spec)[0] > 0
    assert len(_entries(study)) == 4
