"""Greedy and beam-search decoding for the Seq2SeqTransformer, with a key/value cache.

Both functions take a batch of right-padded source ids and return, per source, the generated
token ids without bos and eos. They run under ``torch.no_grad()`` with the model in eval mode,
restoring its previous mode afterwards, and follow whatever autocast the caller has entered.

Each step scores the next token with ``model.decode``: with ``use_cache=True`` it feeds only
the newest token and the decoder's self-attention keys/values accumulate in a ``KVCache``
(cross-attention keys/values are computed from the memory on the first step and reused);
with ``use_cache=False`` it feeds the whole prefix again, which is slower but is the
reference the tests compare the cache against.

The pad token is never generated: it is the filler after eos, and a model trained with the
loss ignoring pads has no reason to score it.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch

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


def _next_log_probs(model, tokens, memory, memory_mask, cache, pad_id, eos_id) -> torch.Tensor:
    """Log-probabilities (N,V) in float32 of the token after ``tokens`` (N,t)."""
    step_input = tokens[:, -1:] if cache is not None else tokens
    logits = model.decode(step_input, memory, memory_mask, cache)[:, -1]  # (N,V)
    log_probs = logits.float().log_softmax(dim=-1)
    if pad_id != eos_id:
        log_probs[:, pad_id] = float("-inf")
    return log_probs


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


def _check(model, max_length: int) -> int:
    if not isinstance(model, Seq2SeqTransformer):
        raise TypeError(f"decoding needs a Seq2SeqTransformer, but got {type(model).__name__}")
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
    max_length = _check(model, max_length)
    pad_id = model.config.pad_id
    with _eval_mode(model):
        memory = model.encode(src_ids)  # (B,S,C)
        memory_mask = model.padding_mask(src_ids)  # (B,S)
        cache = model.new_cache() if use_cache else None
        B = src_ids.size(0)
        tokens = torch.full((B, 1), bos_id, dtype=torch.long, device=src_ids.device)
        finished = torch.zeros(B, dtype=torch.bool, device=src_ids.device)
        for _ in range(max_length):
            log_probs = _next_log_probs(model, tokens, memory, memory_mask, cache, pad_id, eos_id)
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

    Every step takes the 2K best extensions per source. Those among the top K that end in eos
    leave the beam and join the source's K finished hypotheses (ranked by length-normalised score, see
    :func:`length_normalised`); the best K others become the new live beams. A source is done
    once it has K finished hypotheses (the fairseq rule); the search stops when every source
    is done or after ``max_length`` tokens, when the live beams are finished as they are.
    Returns the best finished hypothesis per source. beam_size=1 is exactly greedy decoding.
    """
    if beam_size < 1:
        raise ValueError(f"beam_size must be >= 1, but got {beam_size}")
    max_length = _check(model, max_length)
    pad_id = model.config.pad_id
    B, K, L = src_ids.size(0), beam_size, max_length
    device = src_ids.device
    neg_inf = float("-inf")
    with _eval_mode(model):
        # Beams of one source sit next to each other: row b*K + k is beam k of source b.
        memory = model.encode(src_ids).repeat_interleave(K, dim=0)  # (B*K,S,C)
        memory_mask = model.padding_mask(src_ids).repeat_interleave(K, dim=0)  # (B*K,S)
        cache = model.new_cache() if use_cache else None
        tokens = torch.full((B * K, 1), bos_id, dtype=torch.long, device=device)
        # Only beam 0 starts live, so the first step doesn't pick K copies of one token.
        scores = torch.full((B, K), neg_inf, device=device)
        scores[:, 0] = 0.0
        done_tokens = torch.full((B, K, L), pad_id, dtype=torch.long, device=device)
        done_scores = torch.full((B, K), neg_inf, device=device)  # normalised; -inf = empty
        done = torch.zeros(B, dtype=torch.bool, device=device)
        row_base = (torch.arange(B, device=device) * K)[:, None]  # (B,1)

        def pad_to_L(seqs: torch.Tensor) -> torch.Tensor:  # (..., t) -> (..., L)
            return torch.nn.functional.pad(seqs, (0, L - seqs.size(-1)), value=pad_id)

        def add_finished(seqs, norm_scores):
            """Merge candidates seqs (B,N,L) with scores (B,N) into the K best finished."""
            nonlocal done_tokens, done_scores
            norm_scores = norm_scores.masked_fill(done[:, None], neg_inf)  # done: frozen
            all_scores = torch.cat((done_scores, norm_scores), dim=1)  # (B,K+N)
            all_tokens = torch.cat((done_tokens, seqs), dim=1)  # (B,K+N,L)
            done_scores, best = all_scores.topk(K, dim=1)  # (B,K)
            done_tokens = all_tokens.gather(1, best[:, :, None].expand(-1, -1, L))

        for step in range(L):
            log_probs = _next_log_probs(model, tokens, memory, memory_mask, cache, pad_id, eos_id)
            V = log_probs.size(-1)
            totals = scores[:, :, None] + log_probs.view(B, K, V)  # (B,K,V)
            cand_scores, cand = totals.view(B, K * V).topk(2 * K, dim=1)  # (B,2K)
            cand_beam, cand_token = cand // V, cand % V  # (B,2K) each
            cand_rows = (row_base + cand_beam).view(-1)  # (B*2K,) rows of `tokens`
            cand_seqs = torch.cat((tokens[cand_rows, 1:], cand_token.view(-1, 1)), dim=1)
            cand_seqs = cand_seqs.view(B, 2 * K, step + 1)  # (B,2K,t) without bos
            is_eos = cand_token == eos_id

            # Only eos among the top K candidates finishes a hypothesis (as in fairseq): an eos
            # ranked below K live extensions would not have been in a K-wide beam. This is
            # also what makes beam_size=1 equal greedy.
            in_top_k = torch.arange(2 * K, device=device) < K
            finished_scores = length_normalised(cand_scores, step + 1, length_penalty)
            finishing = is_eos & in_top_k
            add_finished(pad_to_L(cand_seqs), finished_scores.masked_fill(~finishing, neg_inf))

            # The K best non-eos candidates live on (there are always K: each beam has one eos).
            order = torch.arange(2 * K, device=device) + is_eos * (2 * K)  # eos ranked last
            keep = order.topk(K, dim=1, largest=False).indices  # (B,K), best first
            scores = cand_scores.gather(1, keep)
            rows = (row_base + cand_beam.gather(1, keep)).view(-1)  # (B*K,)
            tokens = torch.cat((tokens[rows], cand_token.gather(1, keep).view(-1, 1)), dim=1)
            if cache is not None:
                # Cross-attention K/V are equal across a source's beams: no reorder needed.
                cache.reorder(rows, include_cross=False)

            done |= (done_scores > neg_inf).sum(dim=1) >= K
            if done.all():
                break
        else:
            # Out of steps: the live beams of unfinished sources end here, without eos.
            live = length_normalised(scores, L, length_penalty)
            add_finished(tokens[:, 1:].view(B, K, L), live)

        return _strip(done_tokens[:, 0], eos_id, pad_id)
