"""The built-in Transformer and its decoding.

config.py holds the architecture's settings (and the parameter count that follows from them,
without torch), attention.py and layers.py the parts, transformer.py the three models built
from them, and decode.py greedy and beam search.

No Ray, MLflow, Typer or Rich here: a model is plain PyTorch. The names below are loaded on
first use, so that ``tfcli.model.config`` can be read without importing torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "beam_search": "tfcli.model.decode",
    "greedy_decode": "tfcli.model.decode",
    "KVCache": "tfcli.model.transformer",
    "Seq2SeqTransformer": "tfcli.model.transformer",
    "TransformerClassifier": "tfcli.model.transformer",
    "TransformerConfig": "tfcli.model.config",
    "TransformerSpanExtractor": "tfcli.model.transformer",
    "build_model": "tfcli.model.transformer",
    "count_parameters": "tfcli.model.transformer",
    "parameter_count": "tfcli.model.config",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tfcli.model' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
