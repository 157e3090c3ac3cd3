"""The built-in Transformer and its decoding.

config.py holds the architecture's settings, attention.py and layers.py the parts,
transformer.py the three models built from them, and decode.py greedy and beam search.

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
