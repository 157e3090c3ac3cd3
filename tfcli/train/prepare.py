"""A study's data made ready for training: loaded, tokenized and encoded, per split."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

from tfcli.data.builtin import load_data
from tfcli.data.encode import TruncationWarning, encode_classification, encode_qa, encode_seq2seq
from tfcli.data.encoded_cache import cached_bundle
from tfcli.data.encoded_store import EncodedBundle
from tfcli.data.inputs import token_limits, tokenizer_texts
from tfcli.data.tokenizer import SubwordTokenizer
from tfcli.errors import DataError
from tfcli.spec.schema import DataFiles, StudySpec

SPLITS = ("train", "valid", "test")


@dataclass
class PreparedData:
    task: str
    tokenizer: Any  # tfcli.data.tokenizer.SubwordTokenizer
    encoded: dict[str, Any]  # split -> EncodedSeq2Seq | EncodedClassification | EncodedQA
    labels: list[str] | None = None
    truncated: dict[str, int] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)


def data_source(spec: StudySpec) -> str | dict:
    """``builtin:NAME``, or the data-file mapping with paths resolved against the study file."""
    data = spec.task.data
    if not isinstance(data, DataFiles):
        return data
    source: dict[str, Any] = {"train": spec.resolve_path(data.train)}
    for split in ("valid", "test"):
        if getattr(data, split):
            source[split] = spec.resolve_path(getattr(data, split))
    if data.format:
        source["format"] = data.format
    if data.columns:
        source["columns"] = dict(data.columns)
    return source


def load_splits(spec: StudySpec):
    """The study's train, valid and test examples, read and checked as a trial reads them.

    Bad data (a line without a tab, a field of only spaces, a line longer than
    ``data.max_line_length``, bad JSON, an empty file or split, a missing column, a byte that
    is not UTF-8) is a :class:`~tfcli.errors.DataError` naming FILE:LINE. ``study
    validate`` and ``study start`` call this on the driver, before Ray starts or anything is
    written to the store.
    """
    d = spec.data
    splits = load_data(
        spec.task.type,
        data_source(spec),
        train_size=d.train_size,
        valid_size=d.valid_size,
        test_size=d.test_size,
        seed=d.seed,
        max_line_length=d.max_line_length,
    )
    for split in SPLITS:
        if not getattr(splits, split):
            raise DataError(f"the {split} split of {spec.task.data if isinstance(spec.task.data, str) else 'the data files'} is empty")
    return splits


def encoding_settings(spec: StudySpec) -> dict[str, Any]:
    """Everything in a study besides the data files that decides its encoded data (the cache key)."""
    return {
        "task": spec.task.type,
        "data": spec.data.model_dump(mode="json"),
        "limits": list(token_limits(spec.data, spec.model.max_length)),
    }


def encode_splits(spec: StudySpec) -> EncodedBundle:
    """Read, tokenize and encode the study's splits, uncached: what a warm trial is spared."""
    d, task = spec.data, spec.task.type
    splits = load_splits(spec)
    tokenizer = SubwordTokenizer.train(
        tokenizer_texts(task, splits.train), kind=d.tokenizer, vocab_size=d.vocab_size, lowercase=d.lowercase
    )
    max_source, max_target = token_limits(d, spec.model.max_length)
    encoded: dict[str, Any] = {}
    labels: list[str] | None = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for split in SPLITS:
            examples = getattr(splits, split)
            if task in ("translation", "summarization"):
                encoded[split] = encode_seq2seq(examples, tokenizer, max_source, max_target, split=split)
            elif task == "classification":
                encoded[split] = encode_classification(examples, tokenizer, max_source, labels, split=split)
                labels = encoded[split].labels
            else:
                encoded[split] = encode_qa(examples, tokenizer, max_source, split=split)
    truncations = [str(w.message) for w in caught if issubclass(w.category, TruncationWarning)]
    for warning in caught:
        if not issubclass(warning.category, TruncationWarning):
            warnings.warn(warning.message, warning.category, stacklevel=3)
    return EncodedBundle(tokenizer, encoded, truncations)


def prepare(spec: StudySpec) -> PreparedData:
    """The study's data, encoded once per machine: a trial after the first reads it back.

    See :mod:`tfcli.data.encoded_cache` for the key (the data files' stamps and every data
    setting) and where entries live; the truncation warnings are given again on every call.
    """
    bundle = cached_bundle(data_source(spec), encoding_settings(spec), lambda: encode_splits(spec))
    for message in bundle.warnings:
        warnings.warn(message, TruncationWarning, stacklevel=2)
    encoded = dict(bundle.encoded)
    return PreparedData(
        task=spec.task.type,
        tokenizer=bundle.tokenizer,
        encoded=encoded,
        labels=encoded["train"].labels if spec.task.type == "classification" else None,
        truncated={split: int(encoded[split].truncated) for split in SPLITS},
        sizes={split: len(encoded[split]) for split in SPLITS},
    )
