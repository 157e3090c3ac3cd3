"""Data for tfcli's tasks: built-in generated sets, user files, tokenizer, encoding, batching.

Importing this package is cheap: no torch, and the submodules load on first use.
``load_data``, ``load_builtin``, ``load_files`` and the example types are re-exported here;
the torch parts live in :mod:`tfcli.data.encode` and :mod:`tfcli.data.batching`.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "load_data": "tfcli.data.builtin",
    "load_builtin": "tfcli.data.builtin",
    "BUILTIN_TASKS": "tfcli.data.builtin",
    "DEFAULT_SIZES": "tfcli.data.builtin",
    "load_files": "tfcli.data.files",
    "Seq2SeqExample": "tfcli.data.examples",
    "ClassificationExample": "tfcli.data.examples",
    "QAExample": "tfcli.data.examples",
    "Splits": "tfcli.data.examples",
    "SubwordTokenizer": "tfcli.data.tokenizer",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'tfcli.data' has no attribute {name!r}")
