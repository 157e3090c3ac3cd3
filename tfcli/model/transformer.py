"""The built-in Transformer's three models: seq2seq, classifier and span extractor.

Written on PyTorch primitives (not ``torch.nn.Transformer``) so that every architectural
choice is a field of :class:`TransformerConfig` (:mod:`tfcli.model.config`) and therefore a
searchable hyperparameter. The parts live beside this module: attention and rotary positions
in :mod:`tfcli.model.attention`, the layers, stacks and KV cache in :mod:`tfcli.model.layers`.

Shapes (here and in those modules) use B = batch, S = source length, T = target (or
single-stream) length, C = d_model, H = heads, D = head_dim = C // H, V = vocabulary size.

Conventions the rest of tfcli relies on:

- Padding is inferred from ``config.pad_id`` and must be on the right. Source and encoder
  padding is masked out of every attention; the decoder's self-attention is only causal,
  which is enough because a real target token never looks right, at the pads.
- Padding masks at the model's interface are boolean, True at real tokens; inside, each stack
  turns them into one additive bias per batch (:func:`tfcli.model.attention.key_padding_bias`).
- Tied embeddings are a single ``nn.Embedding`` used for the source, the target and (through
  ``F.linear``) the output projection, so the state dict holds no aliased tensors and
  ``safetensors.torch.save_file(model.state_dict())`` works.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from tfcli.model.config import TransformerConfig
from tfcli.model.dropout import Dropout
from tfcli.model.layers import Decoder, Encoder, KVCache


def _init_weights(module: nn.Module, d_model: int) -> None:
    if isinstance(module, nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        # std 1/sqrt(C), scaled up by sqrt(C) on input: unit-variance inputs, and unit-variance
        # logits when the same matrix is the (tied) output projection.
        nn.init.normal_(module.weight, std=d_model**-0.5)


class _Base(nn.Module):
    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = config
        self.embed_scale = math.sqrt(config.d_model)

    def padding_mask(self, ids: torch.Tensor) -> torch.Tensor:
        """(B,T) ids -> (B,T) bool, True at real tokens."""
        return ids != self.config.pad_id


class Seq2SeqTransformer(_Base):
    """Encoder-decoder for translation and summarization."""

    def __init__(self, config: TransformerConfig):
        super().__init__(config)
        V, C = config.vocab_size, config.d_model
        if config.tie_embeddings:
            self.embed = nn.Embedding(V, C)  # source, target and output projection
        else:
            self.src_embed = nn.Embedding(V, C)
            self.tgt_embed = nn.Embedding(V, C)
            self.lm_head = nn.Linear(C, V, bias=False)
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.apply(lambda m: _init_weights(m, C))

    def _src_embedding(self) -> nn.Embedding:
        return self.embed if self.config.tie_embeddings else self.src_embed

    def _tgt_embedding(self) -> nn.Embedding:
        return self.embed if self.config.tie_embeddings else self.tgt_embed

    def encode(self, src_ids: torch.Tensor) -> torch.Tensor:
        """(B,S) source ids -> memory (B,S,C)."""
        x = self._src_embedding()(src_ids) * self.embed_scale
        return self.encoder(x, self.padding_mask(src_ids))

    def decode(
        self,
        tgt_ids: torch.Tensor,
        memory: torch.Tensor,
        memory_mask: torch.Tensor,
        cache: KVCache | None = None,
    ) -> torch.Tensor:
        """(B,T) target ids, memory (B,S,C), memory_mask (B,S) -> logits (B,T,V).

        Without a cache, tgt_ids is the whole prefix. With one, it is only the new token(s)
        and the cache is updated in place.
        """
        return self.project(self.decoder_states(tgt_ids, memory, memory_mask, cache))

    def decoder_states(self, tgt_ids, memory, memory_mask, cache: KVCache | None = None) -> torch.Tensor:
        """The decoder's final hidden states (B,T,C), before the output projection."""
        y = self._tgt_embedding()(tgt_ids) * self.embed_scale
        return self.decoder(y, memory, memory_mask, cache)

    def project(self, h: torch.Tensor) -> torch.Tensor:
        """Hidden states (..., C) -> vocabulary logits (..., V)."""
        if self.config.tie_embeddings:
            return F.linear(h, self.embed.weight)
        return self.lm_head(h)

    def new_cache(self) -> KVCache:
        return KVCache(self.config.decoder_layers)

    def forward(
        self,
        src_ids: torch.Tensor,
        tgt_in_ids: torch.Tensor,
        targets: torch.Tensor | None = None,
        label_smoothing: float = 0.0,
    ) -> torch.Tensor:
        """(B,S) source, (B,T) decoder input (bos + target[:-1]) -> logits (B,T,V).

        With ``targets`` (B,T) (the next tokens, ``pad_id`` at padding) it returns the summed
        label-smoothed cross-entropy over the real targets instead, computed without the
        logits of pad positions: the output projection and the softmax over the vocabulary
        are the largest per-token cost of a small model, so padding is not paid for twice.
        Equal to ``F.cross_entropy(logits, targets, ignore_index=pad_id, reduction="sum")``.
        """
        memory = self.encode(src_ids)
        memory_mask = self.padding_mask(src_ids)
        if targets is None:
            return self.decode(tgt_in_ids, memory, memory_mask)
        h = self.decoder_states(tgt_in_ids, memory, memory_mask)  # (B,T,C)
        real = targets != self.config.pad_id  # (B,T)
        logits = self.project(h[real])  # (N,V): real target positions only
        return F.cross_entropy(logits.float(), targets[real], label_smoothing=label_smoothing, reduction="sum")


class _EncoderOnly(_Base):
    def __init__(self, config: TransformerConfig):
        super().__init__(config)
        self.embed = nn.Embedding(config.vocab_size, config.d_model)
        self.encoder = Encoder(config)

    def encode(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B,T) ids -> hidden states (B,T,C) and the padding mask (B,T)."""
        mask = self.padding_mask(ids)
        return self.encoder(self.embed(ids) * self.embed_scale, mask), mask


class TransformerClassifier(_EncoderOnly):
    """Encoder with a pooled classification head: (B,T) ids -> logits (B, num_classes)."""

    def __init__(self, config: TransformerConfig):
        super().__init__(config)
        self.dropout = Dropout(config.dropout)
        self.head = nn.Linear(config.d_model, config.num_classes)
        self.apply(lambda m: _init_weights(m, config.d_model))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h, mask = self.encode(ids)  # (B,T,C), (B,T)
        if self.config.pooling == "cls":
            pooled = h[:, 0]  # (B,C): the data pipeline puts a [CLS]/bos token first
        else:
            weights = mask.to(h.dtype).unsqueeze(-1)  # (B,T,1)
            pooled = (h * weights).sum(1) / weights.sum(1).clamp(min=1.0)  # (B,C)
        return self.head(self.dropout(pooled))


class TransformerSpanExtractor(_EncoderOnly):
    """Encoder with a span head for extractive QA: (B,T) ids -> start, end logits (B,T) each.

    Pad positions get the dtype's most negative finite value (not -inf, so a softmax over an
    all-pad row stays finite), which takes them out of both the loss and the argmax.
    """

    def __init__(self, config: TransformerConfig):
        super().__init__(config)
        self.head = nn.Linear(config.d_model, 2)
        self.apply(lambda m: _init_weights(m, config.d_model))

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h, mask = self.encode(ids)
        logits = self.head(h)  # (B,T,2)
        logits = logits.masked_fill(~mask.unsqueeze(-1), torch.finfo(logits.dtype).min)
        start, end = logits.unbind(dim=-1)  # each (B,T)
        return start, end


def build_model(config: TransformerConfig) -> nn.Module:
    """The model for ``config.kind``: Seq2SeqTransformer, TransformerClassifier or
    TransformerSpanExtractor."""
    return {
        "seq2seq": Seq2SeqTransformer,
        "classifier": TransformerClassifier,
        "span": TransformerSpanExtractor,
    }[config.kind](config)


def count_parameters(model: nn.Module) -> int:
    """Trainable and frozen parameters, each shared tensor counted once."""
    return sum(p.numel() for p in model.parameters())
