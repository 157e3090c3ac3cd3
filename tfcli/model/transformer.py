"""The built-in Transformer: attention, positional encodings, blocks and the three task heads.

One file, written on PyTorch primitives (not ``torch.nn.Transformer``) so that every
architectural choice is a field of :class:`TransformerConfig` and therefore a searchable
hyperparameter. Shapes use B = batch, S = source length, T = target (or single-stream) length,
C = d_model, H = heads, D = head_dim = C // H, V = vocabulary size.

Conventions the rest of tfcli relies on:

- Padding is inferred from ``config.pad_id`` and must be on the right. Source and encoder
  padding is masked out of every attention; the decoder's self-attention is only causal,
  which is enough because a real target token never looks right, at the pads.
- Boolean masks mean "may attend" (True) and are passed to SDPA as booleans.
- Tied embeddings are a single ``nn.Embedding`` used for the source, the target and (through
  ``F.linear``) the output projection, so the state dict holds no aliased tensors and
  ``safetensors.torch.save_file(model.state_dict())`` works.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn as nn
import torch.nn.functional as F

from tfcli.errors import ConfigError

KINDS = ("seq2seq", "classifier", "span")
POSITIONALS = ("sinusoidal", "learned", "rotary")
NORMS = ("pre", "post")
ACTIVATIONS = ("relu", "gelu")
POOLINGS = ("cls", "mean")


@dataclass
class TransformerConfig:
    vocab_size: int
    kind: str = "seq2seq"  # "seq2seq" | "classifier" | "span"
    num_classes: int = 2  # classifier only
    d_model: int = 128
    heads: int = 4
    encoder_layers: int = 2
    decoder_layers: int = 2  # seq2seq only
    ffn_dim: int = 512
    dropout: float = 0.1
    attention_dropout: float = 0.0
    activation: str = "relu"  # "relu" | "gelu"
    positional: str = "sinusoidal"  # "sinusoidal" | "learned" | "rotary"
    norm: str = "pre"  # "pre" | "post"
    tie_embeddings: bool = True  # seq2seq: source, target and output share one matrix
    pooling: str = "cls"  # classifier: "cls" (first token) | "mean" (over non-pad tokens)
    max_length: int = 256  # most positions a sequence may have
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
        if self.d_model % self.heads:
            raise ConfigError(
                f"heads must divide d_model, but got heads={self.heads}, d_model={self.d_model}"
            )
        if self.positional == "rotary" and (self.d_model // self.heads) % 2:
            raise ConfigError(
                "rotary positions need an even head size d_model/heads, but got "
                f"d_model={self.d_model}, heads={self.heads}"
            )
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


# ---------------------------------------------------------------------------------------------
# Attention

#: Route attention through the fused SDPA kernel. Tests switch it off (reference_attention())
#: to compare against the plain computation; nothing else should need to.
USE_FUSED_ATTENTION = True


@contextmanager
def reference_attention():
    """Run every attention inside the block through the plain reference path."""
    global USE_FUSED_ATTENTION
    previous, USE_FUSED_ATTENTION = USE_FUSED_ATTENTION, False
    try:
        yield
    finally:
        USE_FUSED_ATTENTION = previous


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    causal: bool = False,
    dropout_p: float = 0.0,
    use_fused: bool | None = None,
) -> torch.Tensor:
    """softmax(q k^T / sqrt(D)) v for q (B,H,Tq,D), k and v (B,H,Tk,D) -> (B,H,Tq,D).

    ``mask`` is boolean, True where a query may attend, broadcastable to (B,H,Tq,Tk).
    ``causal`` aligns the causal triangle bottom-right: the last query sees every key. That
    is what a decoder with a KV cache needs (its Tq new queries follow Tk - Tq cached keys);
    for Tq == Tk it is the usual triangle. Every query row must be allowed at least one key.
    ``use_fused=None`` follows the module flag USE_FUSED_ATTENTION.
    """
    if use_fused is None:
        use_fused = USE_FUSED_ATTENTION
    Tq, Tk = q.size(-2), k.size(-2)
    if causal and Tq == 1:
        causal = False  # a single newest query sees every key
    if causal and (mask is not None or Tq != Tk):
        # SDPA's is_causal is top-left aligned and cannot be combined with attn_mask, so
        # fold the (bottom-right) triangle into the mask instead.
        tri = torch.ones(Tq, Tk, dtype=torch.bool, device=q.device).tril(diagonal=Tk - Tq)
        mask = tri if mask is None else mask & tri
        causal = False
    if use_fused:
        return F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=dropout_p, is_causal=causal
        )
    scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.size(-1))  # (B,H,Tq,Tk)
    if causal:
        mask = torch.ones(Tq, Tk, dtype=torch.bool, device=q.device).tril()
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    probs = F.dropout(scores.softmax(dim=-1), p=dropout_p)
    return probs @ v  # (B,H,Tq,D)


class RotaryEmbedding(nn.Module):
    """Rotary position embedding (RoPE): rotates q and k so that q.k depends on m - n only.

    Uses the "rotate half" pairing (dimension i with i + D/2). cos/sin are computed per call
    from the positions, so there is no table to outgrow and cached decoding just passes the
    absolute positions of its new tokens.
    """

    def __init__(self, head_dim: int, base: float = 10000.0):
        super().__init__()
        inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)  # (D/2,)

    def forward(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """positions (T,) -> cos, sin each (T, D), in float32."""
        angles = positions.float()[:, None] * self.inv_freq[None, :]  # (T, D/2)
        angles = torch.cat((angles, angles), dim=-1)  # (T, D)
        return angles.cos(), angles.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate x (..., T, D) by the angles behind cos/sin (T, D).

    Computed in float32 even under autocast: bf16 holds cos/sin to about 3 digits, which
    would blur the relative-position property at longer lengths.
    """
    xf = x.float()
    x1, x2 = xf.chunk(2, dim=-1)  # each (..., T, D/2)
    rotated = torch.cat((-x2, x1), dim=-1)  # (..., T, D)
    return (xf * cos + rotated * sin).to(x.dtype)


class MultiHeadAttention(nn.Module):
    """Self-attention with a fused QKV projection, or cross-attention with Q and fused KV."""

    def __init__(self, config: TransformerConfig, cross: bool = False):
        super().__init__()
        C = config.d_model
        self.heads = config.heads
        self.cross = cross
        if cross:
            self.q = nn.Linear(C, C)
            self.kv = nn.Linear(C, 2 * C)
        else:
            self.qkv = nn.Linear(C, 3 * C)
        self.out = nn.Linear(C, C)
        self.attention_dropout = config.attention_dropout

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        return x.view(B, T, self.heads, C // self.heads).transpose(1, 2)  # (B,H,T,D)

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        causal: bool = False,
        rotary: tuple[torch.Tensor, torch.Tensor] | None = None,
        past: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """x (B,T,C) -> (B,T,C), plus the (k, v) to cache, each (B,H,Tk,D).

        Self-attention: ``past`` holds the keys/values of earlier steps (already rotated); the
        new ones are appended. Cross-attention: ``past`` holds the memory's keys/values, which
        are then reused as they are, so they are computed once per source.
        """
        B, T, C = x.shape
        if self.cross:
            q = self._split_heads(self.q(x))
            if past is None:
                k, v = self.kv(memory).split(C, dim=2)  # each (B,S,C)
                k, v = self._split_heads(k), self._split_heads(v)  # each (B,H,S,D)
            else:
                k, v = past
        else:
            q, k, v = self.qkv(x).split(C, dim=2)  # each (B,T,C)
            q, k, v = self._split_heads(q), self._split_heads(k), self._split_heads(v)
            if rotary is not None:
                q, k = apply_rotary(q, *rotary), apply_rotary(k, *rotary)
            if past is not None:
                k = torch.cat((past[0], k), dim=2)  # (B,H,Tpast+T,D)
                v = torch.cat((past[1], v), dim=2)
        dropout_p = self.attention_dropout if self.training else 0.0
        y = attention(q, k, v, mask=mask, causal=causal, dropout_p=dropout_p)  # (B,H,T,D)
        y = y.transpose(1, 2).reshape(B, T, C)  # (B,T,C): heads side by side again
        return self.out(y), (k, v)


# ---------------------------------------------------------------------------------------------
# Blocks


class FeedForward(nn.Module):
    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.up = nn.Linear(config.d_model, config.ffn_dim)
        self.down = nn.Linear(config.ffn_dim, config.d_model)
        self.act = nn.GELU() if config.activation == "gelu" else nn.ReLU()
        self.dropout = nn.Dropout(config.dropout)

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
        self.dropout = nn.Dropout(config.dropout)

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
        self.dropout = nn.Dropout(config.dropout)
        self.layers = nn.ModuleList(EncoderLayer(config) for _ in range(config.encoder_layers))
        # Pre-norm leaves the residual stream unnormalised; post-norm already ends in a norm.
        self.norm = nn.LayerNorm(config.d_model) if config.norm == "pre" else nn.Identity()

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor) -> torch.Tensor:
        """x (B,S,C) token embeddings, pad_mask (B,S) True at real tokens -> (B,S,C)."""
        x, rotary = self.positions(x)
        x = self.dropout(x)
        mask = pad_mask[:, None, None, :]  # (B,1,1,S): every query may see every real key
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
        self.dropout = nn.Dropout(config.dropout)
        self.layers = nn.ModuleList(DecoderLayer(config) for _ in range(config.decoder_layers))
        self.norm = nn.LayerNorm(config.d_model) if config.norm == "pre" else nn.Identity()

    def forward(self, x, memory, memory_mask, cache: KVCache | None = None) -> torch.Tensor:
        """x (B,T,C) target embeddings; memory (B,S,C); memory_mask (B,S) -> (B,T,C).

        With a cache, x holds only the new tokens; they sit after the cached ones.
        """
        offset = 0 if cache is None else cache.length
        x, rotary = self.positions(x, offset)
        x = self.dropout(x)
        mask = memory_mask[:, None, None, :]  # (B,1,1,S)
        for i, layer in enumerate(self.layers):
            past_self = None if cache is None else cache.self_kv[i]
            past_cross = None if cache is None else cache.cross_kv[i]
            x, kv_self, kv_cross = layer(x, memory, mask, rotary, past_self, past_cross)
            if cache is not None:
                cache.self_kv[i], cache.cross_kv[i] = kv_self, kv_cross
        return self.norm(x)


# ---------------------------------------------------------------------------------------------
# Models


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
        y = self._tgt_embedding()(tgt_ids) * self.embed_scale
        h = self.decoder(y, memory, memory_mask, cache)
        if self.config.tie_embeddings:
            return F.linear(h, self.embed.weight)  # (B,T,V)
        return self.lm_head(h)

    def new_cache(self) -> KVCache:
        return KVCache(self.config.decoder_layers)

    def forward(self, src_ids: torch.Tensor, tgt_in_ids: torch.Tensor) -> torch.Tensor:
        """(B,S) source, (B,T) decoder input (bos + target[:-1]) -> logits (B,T,V)."""
        memory = self.encode(src_ids)
        return self.decode(tgt_in_ids, memory, self.padding_mask(src_ids))


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
        self.dropout = nn.Dropout(config.dropout)
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
