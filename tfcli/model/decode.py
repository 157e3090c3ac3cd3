"""Greedy and beam-search decoding for the Seq2SeqTransformer, with a key/value cache.

Both functions take a batch of right-padded source ids and return, per source, the generated
token ids without bos and eos. They run under ``torch.no_grad()`` with the model in eval mode,
restoring its previous mode afterwards, and follow whatever autocast the caller has entered.

Each step scores the next token with ``model.decode``: with ``use_cache=True`` it feeds only
the newest token and the decoder's self-attention keys/values accumulate in a ``KVCache``
(cross-attention keys/values are computed from the memory on the first step and reused);
with ``use_cache=False`` it feeds the whole prefix again, which is slower but is the
reference the tests compare the cache against.

Pad and bos are never generated (unless one of them is also eos): pad is the filler after
eos and bos only ever starts a sequence, so neither is a real output token.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import NamedTuple

import torch
import torch.nn.functional as F

from tfcli.model.transformer import Seq2SeqTransformer


@contextmanager
def _eval_mode(model: torch.nn.Module):
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def _next_log_probs(model, tokens, memory, memory_mask, cache, banned) -> torch.Tensor:
    """Log-probabilities (N,V) in float32 of the token after ``tokens`` (N,t)."""
    step_input = tokens[:, -1:] if cache is not None else tokens
    logits = model.decode(step_input, memory, memory_mask, cache)[:, -1]  # (N,V)
    log_probs = logits.float().log_softmax(dim=-1)
    log_probs[:, banned] = float("-inf")
    return log_probs


def _banned(bos_id: int, eos_id: int, pad_id: int) -> list[int]:
    """Tokens never generated: pad and bos (unless one of them doubles as eos)."""
    return sorted({t for t in (pad_id, bos_id) if t != eos_id})


def _strip(rows: torch.Tensor, eos_id: int, pad_id: int) -> list[list[int]]:
    """Cut each row (without bos) at its first eos or pad."""
    out = []
    for row in rows.tolist():
        for i, tok in enumerate(row):
            if tok == eos_id or tok == pad_id:
                row = row[:i]
                break
        out.append(row)
    return out


def _unwrap(model) -> Seq2SeqTransformer:
    """The plain module behind a torch.compile wrapper: decoding changes shapes every step,
    which would only make a compiled model recompile."""
    model = getattr(model, "_orig_mod", model)
    if not isinstance(model, Seq2SeqTransformer):
        raise TypeError(f"decoding needs a Seq2SeqTransformer, but got {type(model).__name__}")
    return model


def _check(model, max_length: int) -> int:
    if max_length < 1:
        raise ValueError(f"max_length must be >= 1, but got {max_length}")
    # The last step's decoder input is bos + (max_length - 1) tokens: max_length positions.
    return min(max_length, model.config.max_length)


def greedy_decode(
    model: Seq2SeqTransformer,
    src_ids: torch.Tensor,
    *,
    bos_id: int,
    eos_id: int,
    max_length: int,
    use_cache: bool = True,
) -> list[list[int]]:
    """Most likely next token at every step, for the whole batch at once.

    Generates at most ``max_length`` tokens per source (eos included; capped at the model's
    ``config.max_length``) and stops as soon as every sequence has produced eos.
    """
    model = _unwrap(model)
    max_length = _check(model, max_length)
    pad_id = model.config.pad_id
    banned = _banned(bos_id, eos_id, pad_id)
    with _eval_mode(model):
        memory = model.encode(src_ids)  # (B,S,C)
        memory_mask = model.padding_mask(src_ids)  # (B,S)
        cache = model.new_cache() if use_cache else None
        B = src_ids.size(0)
        tokens = torch.full((B, 1), bos_id, dtype=torch.long, device=src_ids.device)
        finished = torch.zeros(B, dtype=torch.bool, device=src_ids.device)
        for _ in range(max_length):
            log_probs = _next_log_probs(model, tokens, memory, memory_mask, cache, banned)
            next_token = log_probs.argmax(dim=-1)  # (B,)
            next_token = next_token.masked_fill(finished, pad_id)
            tokens = torch.cat((tokens, next_token[:, None]), dim=1)  # (B,t+1)
            finished |= next_token == eos_id
            if finished.all():
                break
        return _strip(tokens[:, 1:], eos_id, pad_id)


def length_normalised(scores: torch.Tensor, length: int | torch.Tensor, alpha: float):
    """GNMT length penalty (Wu et al. 2016): score / ((5 + length) / 6) ** alpha.

    ``length`` counts generated tokens including eos (not bos). alpha = 0 ranks by the raw
    sum of log-probabilities; larger alpha favours longer outputs.
    """
    return scores / ((5.0 + length) / 6.0) ** alpha


class _Candidates(NamedTuple):
    """The 2K best one-token extensions per source, best first: (B,2K) each."""

    scores: torch.Tensor  # sum of log-probs of the extended beam
    beam: torch.Tensor  # which of the source's K beams it extends
    token: torch.Tensor  # the token it adds
    is_eos: torch.Tensor


def _top_candidates(log_probs: torch.Tensor, scores: torch.Tensor, eos_id: int) -> _Candidates:
    """The 2K best extensions of the live beams, from log_probs (B*K,V) and scores (B,K)."""
    B, K = scores.shape
    V = log_probs.size(-1)
    totals = scores[:, :, None] + log_probs.view(B, K, V)  # (B,K,V)
    cand_scores, cand = totals.view(B, K * V).topk(2 * K, dim=1)  # (B,2K), best first
    cand_beam, cand_token = cand // V, cand % V  # (B,2K) each
    return _Candidates(cand_scores, cand_beam, cand_token, cand_token == eos_id)


def _best_finishing(cand: _Candidates, tokens, row_base, length: int, length_penalty: float):
    """Per source, the best hypothesis that ends in eos now: seqs (B,length) without bos and
    their normalised scores (B,), -inf where none does."""
    K = cand.scores.size(1) // 2
    in_top_k = torch.arange(2 * K, device=cand.scores.device) < K  # (2K,)
    # Only an eos among the top K finishes a hypothesis (as in fairseq): one ranked
    # below K live extensions would have fallen out of a K-wide beam. It is also what
    # makes beam_size=1 equal greedy.
    finishing = length_normalised(cand.scores, length, length_penalty)
    finishing = finishing.masked_fill(~(cand.is_eos & in_top_k), float("-inf"))  # (B,2K)
    f_score, f_idx = finishing.max(dim=1)  # (B,) each
    f_rows = row_base + cand.beam.gather(1, f_idx[:, None]).squeeze(1)  # (B,)
    f_seqs = torch.cat((tokens[f_rows, 1:], cand.token.gather(1, f_idx[:, None])), dim=1)
    return f_seqs, f_score


def _surviving_beams(cand: _Candidates, tokens, row_base):
    """The new live beams: scores (B,K), the rows (B*K,) they extend, and tokens (B*K,t+1)."""
    K = cand.scores.size(1) // 2
    # The K best candidates not ending in eos live on; there are always K, since each
    # of the K beams contributes at most one eos.
    order = torch.arange(2 * K, device=cand.scores.device) + cand.is_eos * (2 * K)  # eos ranked last
    keep = order.topk(K, dim=1, largest=False).indices  # (B,K), best first
    scores = cand.scores.gather(1, keep)
    rows = (row_base[:, None] + cand.beam.gather(1, keep)).view(-1)  # (B*K,)
    tokens = torch.cat((tokens[rows], cand.token.gather(1, keep).view(-1, 1)), dim=1)
    return scores, rows, tokens


class _Finished:
    """The best finished hypothesis of each source so far."""

    def __init__(self, B: int, L: int, pad_id: int, device):
        self.L, self.pad_id = L, pad_id
        self.tokens = torch.full((B, L), pad_id, dtype=torch.long, device=device)  # no bos
        self.scores = torch.full((B,), float("-inf"), device=device)  # normalised; -inf: none yet

    def offer(self, seqs: torch.Tensor, norm_scores: torch.Tensor, done: torch.Tensor) -> None:
        """Keep seqs (B,t) where norm_scores (B,) beat the best so far and not done."""
        better = (norm_scores > self.scores) & ~done
        seqs = F.pad(seqs, (0, self.L - seqs.size(1)), value=self.pad_id)  # (B,L)
        self.tokens = torch.where(better[:, None], seqs, self.tokens)
        self.scores = torch.where(better, norm_scores, self.scores)


def _start_beams(model, src_ids: torch.Tensor, K: int, bos_id: int, use_cache: bool):
    """Memory, its mask, the cache, the bos-only tokens (B*K,1) and the scores (B,K) to start from."""
    B, device = src_ids.size(0), src_ids.device
    # Beams of one source sit next to each other: row b*K + k is beam k of source b.
    memory = model.encode(src_ids).repeat_interleave(K, dim=0)  # (B*K,S,C)
    memory_mask = model.padding_mask(src_ids).repeat_interleave(K, dim=0)  # (B*K,S)
    cache = model.new_cache() if use_cache else None
    tokens = torch.full((B * K, 1), bos_id, dtype=torch.long, device=device)
    # Only beam 0 starts live, so the first step doesn't pick K copies of one token.
    scores = torch.full((B, K), float("-inf"), device=device)  # sum of log-probs, best first
    scores[:, 0] = 0.0
    return memory, memory_mask, cache, tokens, scores


def beam_search(
    model: Seq2SeqTransformer,
    src_ids: torch.Tensor,
    *,
    bos_id: int,
    eos_id: int,
    beam_size: int = 4,
    length_penalty: float = 1.0,
    max_length: int = 128,
    use_cache: bool = True,
) -> list[list[int]]:
    """Batched beam search: all sources x beams advance together as one (B*K, t) tensor.

    Every step takes the 2K best extensions per source. An extension among the top K that
    ends in eos finishes a hypothesis, scored by :func:`length_normalised`; the best K
    extensions that don't end in eos become the new live beams. A source is done once its
    best finished hypothesis scores at least as well as its best live beam at the current
    length (exact for length_penalty=0, where a live score can only fall; with a penalty it
    ignores the bonus a longer hypothesis may still earn). The search stops when every
    source is done, or after ``max_length`` tokens, when the live beams end as they are.
    Returns the best finished hypothesis per source. beam_size=1 is exactly greedy decoding.
    """
    if beam_size < 1:
        raise ValueError(f"beam_size must be >= 1, but got {beam_size}")
    model = _unwrap(model)
    max_length = _check(model, max_length)
    pad_id = model.config.pad_id
    banned = _banned(bos_id, eos_id, pad_id)
    B, K, L = src_ids.size(0), beam_size, max_length
    with _eval_mode(model):
        memory, memory_mask, cache, tokens, scores = _start_beams(model, src_ids, K, bos_id, use_cache)
        row_base = torch.arange(B, device=src_ids.device) * K  # (B,) row of each source's beam 0
        finished = _Finished(B, L, pad_id, src_ids.device)
        done = torch.zeros(B, dtype=torch.bool, device=src_ids.device)
        for step in range(L):
            log_probs = _next_log_probs(model, tokens, memory, memory_mask, cache, banned)
            cand = _top_candidates(log_probs, scores, eos_id)
            finished.offer(*_best_finishing(cand, tokens, row_base, step + 1, length_penalty), done)
            scores, rows, tokens = _surviving_beams(cand, tokens, row_base)
            if cache is not None:
                # Cross-attention K/V are equal across a source's beams: no reorder needed.
                cache.reorder(rows, include_cross=False)

            done |= finished.scores >= length_normalised(scores[:, 0], step + 1, length_penalty)
            if done.all():
                break
        else:
            # Out of steps: the best live beam of each unfinished source ends here, without eos.
            last = tokens[row_base, 1:]  # (B,L)
            finished.offer(last, length_normalised(scores[:, 0], L, length_penalty), done)

        return _strip(finished.tokens, eos_id, pad_id)
