"""The built-in Transformer (transformer.py) and its decoding (decode.py).

No Ray, MLflow, Typer or Rich here: a model is plain PyTorch.
"""

from tfcli.model.decode import beam_search, greedy_decode
from tfcli.model.transformer import (
    KVCache,
    Seq2SeqTransformer,
    TransformerClassifier,
    TransformerConfig,
    TransformerSpanExtractor,
    build_model,
    count_parameters,
)

__all__ = [
    "KVCache",
    "Seq2SeqTransformer",
    "TransformerClassifier",
    "TransformerConfig",
    "TransformerSpanExtractor",
    "beam_search",
    "build_model",
    "count_parameters",
    "greedy_decode",
]
