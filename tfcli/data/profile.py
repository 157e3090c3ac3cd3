"""A data profile: what ``tfcli data inspect`` shows of a study's data before any trial runs.

Per split: examples, length percentiles in characters and in tokens of the tokenizer the
study would train (:mod:`tfcli.data.inputs`), how many examples the current limits truncate
(counted by the encoders themselves), label counts, answers lost to truncation, repeated
examples and examples shared with train (:mod:`tfcli.data.leakage`). Per file: empty,
whitespace-only and over-long lines (:mod:`tfcli.data.profile_lines`).

The files are read as a study reads them (:func:`tfcli.data.files.load_located`), except that
an over-long line is listed here rather than refused, so the rest can still be profiled.
"""

from __future__ import annotations

import math
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Optional, Sequence

from tfcli.data.encode import encode_classification, encode_qa, encode_seq2seq
from tfcli.data.files import Located, load_located
from tfcli.data.inputs import TokenLimits, token_limits, tokenizer_texts
from tfcli.data.leakage import Match, counts, duplicates, leaks
from tfcli.data.profile_lines import LineFindings, scan_lines
from tfcli.data.tokenizer import SubwordTokenizer
from tfcli.spec.schema import DataSpec

SPLITS = ("train", "valid", "test")
HELD_OUT = ("valid", "test")
PERCENTILES = (50, 90, 99)

#: The fields whose lengths are profiled, per task.
LENGTH_FIELDS = {
    "translation": ("source", "target"),
    "summarization": ("source", "target"),
    "classification": ("text",),
    "qa": ("question", "context"),
}


def percentiles(values: Sequence[int]) -> dict[str, int]:
    """p50, p90, p99 (nearest rank) and max of ``values``; zeros when there are none."""
    ordered = sorted(values)
    if not ordered:
        return {**{f"p{p}": 0 for p in PERCENTILES}, "max": 0}
    rank = {f"p{p}": ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)] for p in PERCENTILES}
    return {**rank, "max": ordered[-1]}


@dataclass
class DataRead:
    """The examples of each split with where each came from, and the files read."""

    task: str
    splits: dict[str, list[Located]]
    files: dict[str, str]  # split -> the file it was read from (a carved split: the train file)
    carved: list[str] = field(default_factory=list)


def read_data(task: str, source: dict, data: DataSpec) -> DataRead:
    """Read ``source`` (``train``, optional ``valid``/``test``, ``format``, ``columns``: the
    mapping :func:`tfcli.train.prepare.data_source` gives) as a study would split it."""
    splits = load_located(
        task, train=source["train"], valid=source.get("valid"), test=source.get("test"),
        format=source.get("format"), columns=source.get("columns") or None, seed=data.seed,
        max_line_length=sys.maxsize,
    )
    carved = [split for split in HELD_OUT if not source.get(split)]
    files = {split: str(source.get(split) or source["train"]) for split in SPLITS}
    return DataRead(task=task, splits=splits, files=files, carved=carved)


def leakage(read: DataRead) -> dict[str, list[Match]]:
    """Per held-out split, its examples whose input train has (the cheap part of a profile)."""
    return {split: leaks(read.task, read.splits["train"], read.splits[split]) for split in HELD_OUT}


#: Shared pairs kept in a study's data summary; the counts cover them all.
SUMMARY_PAIRS = 100


def leakage_summary(read: DataRead) -> dict:
    """What a study logs on its parent run when it starts: examples per split, leak counts per
    held-out split and kind, and the first :data:`SUMMARY_PAIRS` shared pairs (FILE:LINE)."""
    leaked = leakage(read)
    pairs = [{"split": split, **m.to_dict()} for split in HELD_OUT for m in leaked[split]]
    return {
        "examples": {split: len(items) for split, items in read.splits.items()},
        "leakage": {split: counts(matches) for split, matches in leaked.items()},
        "pairs": pairs[:SUMMARY_PAIRS],
    }


@dataclass
class SplitProfile:
    split: str
    file: str
    carved: bool
    examples: int
    chars: dict[str, dict[str, int]]
    tokens: dict[str, dict[str, int]]
    truncated: int
    labels: Optional[dict[str, int]] = None
    unseen_labels: list[str] = field(default_factory=list)
    answers_cut: Optional[int] = None
    duplicates: list[Match] = field(default_factory=list)
    leaks: list[Match] = field(default_factory=list)

    @property
    def truncated_share(self) -> float:
        return self.truncated / self.examples if self.examples else 0.0

    def to_dict(self) -> dict:
        out = {k: v for k, v in asdict(self).items() if k not in ("duplicates", "leaks")}
        out["truncated_share"] = self.truncated_share
        out["duplicates"] = [m.to_dict() for m in self.duplicates]
        out["leaks"] = [m.to_dict() for m in self.leaks]
        return out


@dataclass
class DataProfile:
    task: str
    tokenizer: dict
    limits: TokenLimits
    max_line_length: int
    splits: dict[str, SplitProfile]
    lines: dict[str, LineFindings]  # file -> its line findings

    @property
    def leak_count(self) -> int:
        return sum(len(self.splits[s].leaks) for s in HELD_OUT)

    def to_dict(self) -> dict:
        return {
            "task": self.task,
            "tokenizer": self.tokenizer,
            "limits": {"max_source_length": self.limits.source, "max_target_length": self.limits.target},
            "max_line_length": self.max_line_length,
            "splits": {name: s.to_dict() for name, s in self.splits.items()},
            "files": {name: f.to_dict() for name, f in self.lines.items()},
        }


def _field_texts(task: str, examples: list) -> dict[str, list[str]]:
    return {name: [getattr(e, name) for e in examples] for name in LENGTH_FIELDS[task]}


def _truncation(task: str, examples: list, tok: SubwordTokenizer, limits: TokenLimits) -> tuple[int, Optional[int]]:
    """How many examples the encoders cut at ``limits``, and (QA) how many lose their answer."""
    if task in ("translation", "summarization"):
        return encode_seq2seq(examples, tok, limits.source, limits.target, warn=False).truncated, None
    if task == "classification":
        return encode_classification(examples, tok, limits.source, warn=False).truncated, None
    encoded = encode_qa(examples, tok, limits.source, warn=False)
    return encoded.truncated, encoded.answer_truncated


def _split_profile(read: DataRead, split: str, tok: SubwordTokenizer, limits: TokenLimits, leaked: list[Match]) -> SplitProfile:
    items = read.splits[split]
    examples = [item.example for item in items]
    texts = _field_texts(read.task, examples)
    truncated, answers_cut = _truncation(read.task, examples, tok, limits)
    profile = SplitProfile(
        split=split, file=read.files[split], carved=split in read.carved, examples=len(examples),
        chars={name: percentiles([len(t) for t in values]) for name, values in texts.items()},
        tokens={name: percentiles([len(ids) for ids in tok.encode_batch(values)]) for name, values in texts.items()},
        truncated=truncated, answers_cut=answers_cut,
        duplicates=duplicates(read.task, items), leaks=leaked,
    )
    if read.task == "classification":
        profile.labels = dict(sorted(Counter(e.label for e in examples).items()))
        train_labels = {item.example.label for item in read.splits["train"]}
        profile.unseen_labels = sorted(set(profile.labels) - train_labels)
    return profile


def study_tokenizer(read: DataRead, data: DataSpec) -> SubwordTokenizer:
    """The tokenizer a study with ``data`` would train on this data (cached, as a trial's is)."""
    texts = tokenizer_texts(read.task, [item.example for item in read.splits["train"]])
    return SubwordTokenizer.train(texts, kind=data.tokenizer, vocab_size=data.vocab_size, lowercase=data.lowercase)


def profile_data(read: DataRead, data: DataSpec, model_max_length: int) -> DataProfile:
    """The profile of ``read`` under the data settings ``data`` and a model of ``model_max_length``."""
    tok = study_tokenizer(read, data)
    limits = token_limits(data, model_max_length)
    leaked = leakage(read)
    return DataProfile(
        task=read.task,
        tokenizer={"kind": data.tokenizer, "vocab_size": data.vocab_size, "lowercase": data.lowercase, "trained_size": tok.vocab_size},
        limits=limits,
        max_line_length=data.max_line_length,
        splits={s: _split_profile(read, s, tok, limits, leaked.get(s, [])) for s in SPLITS},
        lines={f: scan_lines(f, data.max_line_length) for f in dict.fromkeys(read.files.values())},
    )


__all__ = [
    "DataProfile", "DataRead", "SplitProfile", "leakage", "leakage_summary", "percentiles", "profile_data", "read_data", "study_tokenizer",
]
