"""The Transformer's architectural choices and the rules that make a shape buildable.

Plain Python (no pydantic): the study schema (:class:`tfcli.spec.schema.ModelSpec`) and the
model's own :class:`tfcli.model.config.TransformerConfig` both read them from here, so the
choices and the shape rules have one home.
"""

from __future__ import annotations

from typing import Optional

POSITIONALS = ("sinusoidal", "learned", "rotary")
NORMS = ("pre", "post")
ACTIVATIONS = ("relu", "gelu")
POOLINGS = ("cls", "mean")

#: The default of each architectural setting: the study file's ``model:`` section
#: (:class:`~tfcli.spec.schema.ModelSpec`) and :class:`~tfcli.model.config.TransformerConfig`
#: both take theirs from here.
MODEL_DEFAULTS = {
    "d_model": 128,
    "heads": 4,
    "encoder_layers": 2,
    "decoder_layers": 2,
    "ffn_dim": 512,
    "dropout": 0.1,
    "attention_dropout": 0.0,
    "activation": "relu",
    "positional": "sinusoidal",
    "norm": "pre",
    "tie_embeddings": True,
    "pooling": "cls",
    "max_length": 256,
}


def attention_problem(d_model: int, heads: int, positional: str) -> Optional[str]:
    """What makes ``d_model``/``heads``/``positional`` unbuildable, or None.

    The one home of the attention shape rules: study validation checks every value a space
    can produce with it, and :class:`tfcli.model.config.TransformerConfig` refuses with it.
    """
    if heads < 1 or d_model % heads:
        return f"heads must divide d_model, but heads={heads} does not divide d_model={d_model}"
    if positional == "rotary" and (d_model // heads) % 2:
        return f"rotary positions need an even head size d_model/heads, but d_model={d_model}, heads={heads} gives {d_model // heads}"
    return None
