"""The configuration of the built-in Transformer: every architectural choice is a field.

Each field is therefore a searchable hyperparameter (``model.<field>`` in a study), and
:class:`TransformerConfig` checks the values when it is built.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping, Optional

from tfcli.errors import ConfigError
from tfcli.spec.architecture import ACTIVATIONS, MODEL_DEFAULTS, NORMS, POOLINGS, POSITIONALS, attention_problem

KINDS = ("seq2seq", "classifier", "span")


@dataclass
class TransformerConfig:
    """A model's architecture: a study's ``model:`` section (each setting defaults as there)
    and what the task adds (``vocab_size``, ``kind``, ``num_classes``, ``pad_id``)."""

    vocab_size: int
    kind: str = "seq2seq"  # "seq2seq" | "classifier" | "span"
    num_classes: int = 2  # classifier only
    d_model: int = MODEL_DEFAULTS["d_model"]
    heads: int = MODEL_DEFAULTS["heads"]
    encoder_layers: int = MODEL_DEFAULTS["encoder_layers"]
    decoder_layers: int = MODEL_DEFAULTS["decoder_layers"]  # seq2seq only
    ffn_dim: int = MODEL_DEFAULTS["ffn_dim"]
    dropout: float = MODEL_DEFAULTS["dropout"]
    attention_dropout: float = MODEL_DEFAULTS["attention_dropout"]
    activation: str = MODEL_DEFAULTS["activation"]  # "relu" | "gelu"
    positional: str = MODEL_DEFAULTS["positional"]  # "sinusoidal" | "learned" | "rotary"
    norm: str = MODEL_DEFAULTS["norm"]  # "pre" | "post"
    tie_embeddings: bool = MODEL_DEFAULTS["tie_embeddings"]  # seq2seq: source, target and output share one matrix
    pooling: str = MODEL_DEFAULTS["pooling"]  # classifier: "cls" (first token) | "mean" (over non-pad tokens)
    max_length: int = MODEL_DEFAULTS["max_length"]  # most positions a sequence may have
    pad_id: int = 0

    def __post_init__(self) -> None:
        choices = {
            "kind": KINDS,
            "positional": POSITIONALS,
            "norm": NORMS,
            "activation": ACTIVATIONS,
            "pooling": POOLINGS,
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(
                    f"model.{name} must be one of {', '.join(allowed)}, "
                    f"but got {getattr(self, name)!r}"
                )
        for name in ("vocab_size", "d_model", "heads", "encoder_layers", "ffn_dim", "max_length"):
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name} must be >= 1, but got {getattr(self, name)}")
        if self.kind == "seq2seq" and self.decoder_layers < 1:
            raise ConfigError(f"model.decoder_layers must be >= 1, but got {self.decoder_layers}")
        if self.kind == "classifier" and self.num_classes < 2:
            raise ConfigError(f"model.num_classes must be >= 2, but got {self.num_classes}")
        problem = attention_problem(self.d_model, self.heads, self.positional)
        if problem:
            raise ConfigError(problem)
        for name in ("dropout", "attention_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"model.{name} must be in [0, 1), but got {getattr(self, name)}")
        if not 0 <= self.pad_id < self.vocab_size:
            raise ConfigError(
                f"pad_id must be a token id below vocab_size, but got pad_id={self.pad_id}, "
                f"vocab_size={self.vocab_size}"
            )

    @classmethod
    def from_dict(cls, d: dict) -> TransformerConfig:
        """Build from a dict, ignoring keys that are not fields (e.g. a whole trial config)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def to_dict(self) -> dict:
        return asdict(self)


def parameter_count(model_config: Mapping[str, Any]) -> Optional[int]:
    """The parameter count of the model ``model_config`` (a TransformerConfig dict) describes.

    Counted from the architecture of :mod:`tfcli.model` without building the
    model (no torch import: reports stay fast); a test checks it against
    ``count_parameters(build_model(config))``. None when the config lacks a field.
    """
    try:
        c = model_config
        V, C, F = int(c["vocab_size"]), int(c["d_model"]), int(c["ffn_dim"])
        kind, norm = c.get("kind", "seq2seq"), c.get("norm", MODEL_DEFAULTS["norm"])
        positions = int(c.get("max_length", MODEL_DEFAULTS["max_length"])) * C if c.get("positional", MODEL_DEFAULTS["positional"]) == "learned" else 0
        final_norm = 2 * C if norm == "pre" else 0
        attention = 4 * C * C + 4 * C  # fused qkv (or q + fused kv) and the output projection
        ffn = 2 * C * F + F + C
        layer_norm = 2 * C
        encoder = positions + final_norm + int(c["encoder_layers"]) * (attention + ffn + 2 * layer_norm)
        if kind == "seq2seq":
            decoder = positions + final_norm + int(c["decoder_layers"]) * (2 * attention + ffn + 3 * layer_norm)
            embeddings = V * C if c.get("tie_embeddings", MODEL_DEFAULTS["tie_embeddings"]) else 3 * V * C
            return embeddings + encoder + decoder
        head = C * int(c.get("num_classes", 2)) + int(c.get("num_classes", 2)) if kind == "classifier" else 2 * C + 2
        return V * C + encoder + head
    except (KeyError, TypeError, ValueError):
        return None
