"""Encoded splits and their tokenizer to one safetensors file and back, checked before trusted.

The layout: every list of token lists is a flat ``int32`` array with an ``int64`` array of
lengths (``SPLIT.FIELD`` and ``SPLIT.FIELD.len``); QA's character offsets are ``(n, 2)``
rows with their lengths; per-example integers and flags are plain arrays; the examples (each
the list of its fields' values) and the tokenizer are UTF-8 JSON in ``uint8`` arrays. The
small rest (each split's type, lengths, counts, labels, the truncation warnings, the entry's
key) is JSON in the header's metadata, with a sha256 of every array, so a damaged file is
refused (:class:`DamagedEntry`) rather than trusted. No pickle: loading runs no code from
the file."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load, save
from tokenizers import Tokenizer

from tfcli.data.encode import EncodedClassification, EncodedQA, EncodedSeq2Seq
from tfcli.data.examples import ClassificationExample, QAExample, Seq2SeqExample
from tfcli.data.tokenizer import SubwordTokenizer

#: Bump when the layout changes; an entry of another format is rebuilt.
STORE_FORMAT = 2


class DamagedEntry(ValueError):
    """A cache file that cannot be read back exactly as it was written."""


@dataclass
class EncodedBundle:
    """What a study's trials share: the tokenizer, each split encoded, the truncation warnings."""

    tokenizer: SubwordTokenizer
    encoded: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Layout:
    example: type
    ragged: tuple[str, ...] = ()
    flat: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    pairs: tuple[str, ...] = ()


_LAYOUTS: dict[type, _Layout] = {
    EncodedSeq2Seq: _Layout(Seq2SeqExample, ragged=("src", "tgt")),
    EncodedClassification: _Layout(ClassificationExample, ragged=("ids",), flat=("label_ids",)),
    EncodedQA: _Layout(
        QAExample, ragged=("ids",), flat=("start", "end", "context_start"), flags=("answerable",), pairs=("offsets",)
    ),
}
_TYPES = {cls.__name__: cls for cls in _LAYOUTS}


def _bytes(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-8", "surrogatepass"), dtype=np.uint8)


def _text(array: np.ndarray) -> str:
    return array.tobytes().decode("utf-8", "surrogatepass")


def _arrays_digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = arrays[name]
        h.update(f"\n{name}:{a.dtype.str}:{a.shape}:".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _split_arrays(prefix: str, enc: Any, layout: _Layout) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for name in layout.ragged + layout.pairs:
        rows = getattr(enc, name)
        flat = [x for row in rows for x in row]
        shape = (-1, 2) if name in layout.pairs else (-1,)
        out[f"{prefix}.{name}"] = np.asarray(flat, dtype=np.int32 if name in layout.ragged else np.int64).reshape(shape)
        out[f"{prefix}.{name}.len"] = np.asarray([len(row) for row in rows], dtype=np.int64)
    for name in layout.flat:
        out[f"{prefix}.{name}"] = np.asarray(getattr(enc, name), dtype=np.int64)
    for name in layout.flags:
        out[f"{prefix}.{name}"] = np.asarray(getattr(enc, name), dtype=np.uint8)
    names = [f.name for f in dataclasses.fields(layout.example)]
    rows = [[getattr(e, name) for name in names] for e in enc.examples]
    out[f"{prefix}.examples"] = _bytes(json.dumps(rows, ensure_ascii=False))
    return out


def _split_meta(enc: Any, layout: _Layout) -> dict[str, Any]:
    arrays = set(layout.ragged + layout.flat + layout.flags + layout.pairs + ("examples",))
    rest = {f.name: getattr(enc, f.name) for f in dataclasses.fields(enc) if f.name not in arrays}
    return {"type": type(enc).__name__, **rest}


def dumps(bundle: EncodedBundle, key: str) -> bytes:
    """The bundle as safetensors bytes, tagged with the cache ``key`` it is stored under."""
    arrays: dict[str, np.ndarray] = {"tokenizer": _bytes(bundle.tokenizer.backend.to_str())}
    splits = {}
    for split, enc in bundle.encoded.items():
        layout = _LAYOUTS[type(enc)]
        arrays.update(_split_arrays(split, enc, layout))
        splits[split] = _split_meta(enc, layout)
    meta = {"format": STORE_FORMAT, "key": key, "splits": splits, "warnings": list(bundle.warnings)}
    return save(arrays, metadata={"tfcli": json.dumps(meta), "sha256": _arrays_digest(arrays)})


def _header(data: bytes) -> dict[str, str]:
    """The metadata of a safetensors file (8-byte little-endian length, then JSON)."""
    if len(data) < 8:
        raise DamagedEntry("shorter than a safetensors header")
    size = int.from_bytes(data[:8], "little")
    try:
        header = json.loads(data[8 : 8 + size])
        return dict(header["__metadata__"])
    except (ValueError, KeyError, TypeError) as err:
        raise DamagedEntry(f"unreadable header ({err})") from None


def _rows(values: list, lengths: np.ndarray) -> list[list]:
    ends = np.cumsum(lengths).tolist()
    starts = [0] + ends[:-1]
    return [values[a:b] for a, b in zip(starts, ends)]


def _examples(cls: type, rows: list[list]) -> list:
    """The examples from their rows of field values (in field order; QA's lists back to tuples)."""
    if cls is QAExample:
        return [cls(c, q, tuple(a), tuple(s), i) for c, q, a, s, i in rows]
    return [cls(*row) for row in rows]


def _split(prefix: str, meta: dict, arrays: dict[str, np.ndarray]) -> Any:
    cls = _TYPES[meta.pop("type")]
    layout = _LAYOUTS[cls]
    values: dict[str, Any] = dict(meta)
    for name in layout.ragged:
        values[name] = _rows(arrays[f"{prefix}.{name}"].tolist(), arrays[f"{prefix}.{name}.len"])
    for name in layout.pairs:
        pairs = list(map(tuple, arrays[f"{prefix}.{name}"].tolist()))
        values[name] = _rows(pairs, arrays[f"{prefix}.{name}.len"])
    for name in layout.flat:
        values[name] = arrays[f"{prefix}.{name}"].tolist()
    for name in layout.flags:
        values[name] = [bool(x) for x in arrays[f"{prefix}.{name}"].tolist()]
    values["examples"] = _examples(layout.example, json.loads(_text(arrays[f"{prefix}.examples"])))
    return cls(**values)


def loads(data: bytes, key: str) -> EncodedBundle:
    """The bundle in ``data``; :class:`DamagedEntry` unless it is whole and was stored under ``key``."""
    header = _header(data)
    try:
        arrays = load(data)
    except (SafetensorError, ValueError) as err:
        raise DamagedEntry(str(err)) from None
    if header.get("sha256") != _arrays_digest(arrays):
        raise DamagedEntry("its arrays do not match their checksum")
    try:
        meta = json.loads(header["tfcli"])
        if meta["format"] != STORE_FORMAT or meta["key"] != key:
            raise DamagedEntry(f"it holds format {meta['format']} under key {meta['key'][:12]}")
        tokenizer = SubwordTokenizer(Tokenizer.from_str(_text(arrays["tokenizer"])))
        encoded = {split: _split(split, dict(m), arrays) for split, m in meta["splits"].items()}
        return EncodedBundle(tokenizer, encoded, [str(w) for w in meta["warnings"]])
    except DamagedEntry:
        raise
    except Exception as err:  # anything else a tampered file can raise: never trusted
        raise DamagedEntry(f"{type(err).__name__}: {err}") from None


def read(path: Path, key: str) -> EncodedBundle:
    return loads(path.read_bytes(), key)
