"""The blocks the models are built from: the feed-forward and residual sublayers, encoder
and decoder layers and stacks, positional encodings, and the decoder's key/value cache.

Shapes and padding conventions as in :mod:`tfcli.model.transformer`.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from tfcli.model.attention import MultiHeadAttention, RotaryEmbedding, compute_dtype, key_padding_bias
from tfcli.model.config import TransformerConfig
from tfcli.model.dropout import Dropout


class FeedForward(nn.Module):
    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.up = nn.Linear(config.d_model, config.ffn_dim)
        self.down = nn.Linear(config.ffn_dim, config.d_model)
        self.act = nn.GELU() if config.activation == "gelu" else nn.ReLU()
        self.dropout = Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(self.dropout(self.act(self.up(x))))


class Residual(nn.Module):
    """x + dropout(f(x)) with the LayerNorm before f ("pre") or after the sum ("post").

    Pre-norm trains stably without warmup tricks; post-norm is the original Transformer.
    """

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.pre = config.norm == "pre"
        self.norm = nn.LayerNorm(config.d_model)
        self.dropout = Dropout(config.dropout)

    def forward(self, x: torch.Tensor, sublayer) -> tuple[torch.Tensor, object]:
        """sublayer(h) returns (output, extra); extra (e.g. a KV pair) is passed through."""
        if self.pre:
            out, extra = sublayer(self.norm(x))
            return x + self.dropout(out), extra
        out, extra = sublayer(x)
        return self.norm(x + self.dropout(out)), extra


class EncoderLayer(nn.Module):
    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.attn = MultiHeadAttention(config)
        self.ffn = FeedForward(config)
        self.attn_res = Residual(config)
        self.ffn_res = Residual(config)

    def forward(self, x, mask, rotary):
        x, _ = self.attn_res(x, lambda h: self.attn(h, mask=mask, rotary=rotary))
        x, _ = self.ffn_res(x, lambda h: (self.ffn(h), None))
        return x


class DecoderLayer(nn.Module):
    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.self_attn = MultiHeadAttention(config)
        self.cross_attn = MultiHeadAttention(config, cross=True)
        self.ffn = FeedForward(config)
        self.self_res = Residual(config)
        self.cross_res = Residual(config)
        self.ffn_res = Residual(config)

    def forward(self, x, memory, memory_mask, rotary, past_self=None, past_cross=None):
        x, kv_self = self.self_res(
            x, lambda h: self.self_attn(h, causal=True, rotary=rotary, past=past_self)
        )
        x, kv_cross = self.cross_res(
            x, lambda h: self.cross_attn(h, memory=memory, mask=memory_mask, past=past_cross)
        )
        x, _ = self.ffn_res(x, lambda h: (self.ffn(h), None))
        return x, kv_self, kv_cross


class Positions(nn.Module):
    """Adds sinusoidal or learned positions to the input; for rotary, hands out cos/sin."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.kind = config.positional
        self.max_length = config.max_length
        C = config.d_model
        if self.kind == "sinusoidal":
            pos = torch.arange(config.max_length, dtype=torch.float32)[:, None]  # (L,1)
            freq = torch.exp(torch.arange(0, C, 2, dtype=torch.float32) * (-math.log(10000.0) / C))
            table = torch.zeros(config.max_length, C)
            table[:, 0::2] = torch.sin(pos * freq)
            table[:, 1::2] = torch.cos(pos * freq[: C // 2])
            # Not persistent: it is a function of the config, so checkpoints needn't carry it.
            self.register_buffer("table", table, persistent=False)
        elif self.kind == "learned":
            # Same variance (1/2) as the sinusoidal table it stands in for.
            self.table = nn.Parameter(torch.randn(config.max_length, C) * 0.5**0.5)
        else:
            self.rotary = RotaryEmbedding(C // config.heads)

    def forward(self, x: torch.Tensor, offset: int = 0):
        """x (B,T,C) at absolute positions offset..offset+T-1 -> (x with positions, rotary)."""
        T = x.size(1)
        if offset + T > self.max_length:
            raise ValueError(
                f"sequence length must be <= max_length ({self.max_length}), "
                f"but got {offset + T}"
            )
        if self.kind == "rotary":
            return x, self.rotary(torch.arange(offset, offset + T, device=x.device))
        return x + self.table[offset : offset + T], None


class Encoder(nn.Module):
    """Positions, dropout, a stack of encoder layers and (pre-norm) a final LayerNorm."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.positions = Positions(config)
        self.dropout = Dropout(config.dropout)
        self.layers = nn.ModuleList(EncoderLayer(config) for _ in range(config.encoder_layers))
        # Pre-norm leaves the residual stream unnormalised; post-norm already ends in a norm.
        self.norm = nn.LayerNorm(config.d_model) if config.norm == "pre" else nn.Identity()

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor) -> torch.Tensor:
        """x (B,S,C) token embeddings, pad_mask (B,S) True at real tokens -> (B,S,C)."""
        x, rotary = self.positions(x)
        x = self.dropout(x)
        mask = key_padding_bias(pad_mask, compute_dtype(x))  # (B,1,1,S): every query sees every real key
        for layer in self.layers:
            x = layer(x, mask, rotary)
        return self.norm(x)


class KVCache:
    """Keys and values of past decoder steps, one (k, v) pair per layer, each (B,H,T,D).

    ``self_kv`` grows by one position per step; ``cross_kv`` is filled on the first step
    from the encoder memory and reused afterwards.
    """

    def __init__(self, num_layers: int):
        self.self_kv: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * num_layers
        self.cross_kv: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * num_layers

    @property
    def length(self) -> int:
        """How many target positions are cached (the position of the next token)."""
        first = self.self_kv[0]
        return 0 if first is None else first[0].size(2)

    def reorder(self, index: torch.Tensor, include_cross: bool = True) -> None:
        """Keep rows ``index`` (a LongTensor over the batch) of every cached tensor.

        Beam search passes include_cross=False: all beams of a source share the same memory,
        so their cross-attention rows are equal and need no shuffling.
        """

        def pick(kv):
            if kv is None:
                return None
            return kv[0].index_select(0, index), kv[1].index_select(0, index)

        self.self_kv = [pick(kv) for kv in self.self_kv]
        if include_cross:
            self.cross_kv = [pick(kv) for kv in self.cross_kv]


class Decoder(nn.Module):
    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.positions = Positions(config)
        self.dropout = Dropout(config.dropout)
        self.layers = nn.ModuleList(DecoderLayer(config) for _ in range(config.decoder_layers))
        self.norm = nn.LayerNorm(config.d_model) if config.norm == "pre" else nn.Identity()

    def forward(self, x, memory, memory_mask, cache: KVCache | None = None) -> torch.Tensor:
        """x (B,T,C) target embeddings; memory (B,S,C); memory_mask (B,S) -> (B,T,C).

        With a cache, x holds only the new tokens; they sit after the cached ones.
        """
        offset = 0 if cache is None else cache.length
        x, rotary = self.positions(x, offset)
        x = self.dropout(x)
        mask = key_padding_bias(memory_mask, compute_dtype(x))  # (B,1,1,S), once for all layers
        for i, layer in enumerate(self.layers):
            past_self = None if cache is None else cache.self_kv[i]
            past_cross = None if cache is None else cache.cross_kv[i]
            x, kv_self, kv_cross = layer(x, memory, mask, rotary, past_self, past_cross)
            if cache is not None:
                cache.self_kv[i], cache.cross_kv[i] = kv_self, kv_cross
        return self.norm(x)
