"""What of a study's data its tokenizer is trained on, and the token limits examples are
encoded to: shared by a trial's data preparation and by ``tfcli data inspect``."""

from __future__ import annotations

from typing import NamedTuple

from tfcli.spec.schema import DataSpec


def tokenizer_texts(task: str, examples: list) -> list[str]:
    """The texts of ``examples`` (the training split) the study's tokenizer is trained on."""
    if task in ("translation", "summarization"):
        return [e.source for e in examples] + [e.target for e in examples]
    if task == "classification":
        return [e.text for e in examples]
    return [e.context for e in examples] + [e.question for e in examples]


class TokenLimits(NamedTuple):
    """The longest source (the whole input of classification and QA) and target, in tokens."""

    source: int
    target: int


def token_limits(data: DataSpec, model_max_length: int) -> TokenLimits:
    """``data.max_source_length`` and ``data.max_target_length``, each at most what the model accepts."""
    return TokenLimits(min(data.max_source_length, model_max_length), min(data.max_target_length, model_max_length))
