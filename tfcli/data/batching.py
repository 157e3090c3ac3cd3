"""Length-bucketed batches under a token budget, and the batch types the loop consumes.

``batch_tokens`` bounds the padded size of a batch: ``len(batch) * max_len <= batch_tokens``,
where a seq2seq example's length is the longer of its source and its target with bos/eos.
A single sequence longer than the budget still gets a batch of its own.

Masks follow PyTorch's ``key_padding_mask`` convention: **True marks padding**. Padding
positions hold ``pad_id`` everywhere (also in ``tgt_out``, so ``ignore_index=pad_id`` works).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields, replace

import torch

from tfcli.data.encode import EncodedClassification, EncodedQA, EncodedSeq2Seq
from tfcli.data.tokenizer import BOS_ID, EOS_ID, PAD_ID

Encoded = EncodedSeq2Seq | EncodedClassification | EncodedQA


# ---------------------------------------------------------------------------------------------
# Index batches


def _check_budget(batch_tokens: int) -> None:
    if isinstance(batch_tokens, bool) or not isinstance(batch_tokens, int) or batch_tokens < 1:
        raise ValueError(f"batch_tokens must be a positive integer, but got {batch_tokens!r}")


def _pack(order: Sequence[int], lengths: Sequence[int], batch_tokens: int) -> list[list[int]]:
    """Greedily cut ``order`` into batches whose padded size stays within the budget."""
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for i in order:
        n = max(int(lengths[i]), 1)
        grown = max(longest, n)
        if current and grown * (len(current) + 1) > batch_tokens:
            batches.append(current)
            current, grown = [], n
        current.append(i)
        longest = grown
    if current:
        batches.append(current)
    return batches


def bucket_batches(
    lengths: Sequence[int],
    batch_tokens: int,
    *,
    shuffle: bool,
    seed: int,
    within: Sequence[tuple[int, ...]] | None = None,
) -> list[list[int]]:
    """Indices grouped into length buckets: sort by length, pack under the budget.

    ``within`` (one tuple per example, optional) orders examples of equal length before the
    tie-break: for seq2seq the (source, target) lengths (:attr:`EncodedSeq2Seq.side_lengths`).
    The budget counts the longer side, but each side is padded to its own longest, so
    without it a batch of equal-length examples still mixes long sources with short targets
    and the reverse (23% padding against 14% for independent lengths in 5..60).
    With ``shuffle``, examples that still tie are ordered randomly (so batches differ from
    seed to seed) and the order of the batches is shuffled; all deterministic by ``seed``.
    Every index appears in exactly one batch.
    """
    _check_budget(batch_tokens)
    rng = random.Random(seed)
    n = len(lengths)
    ties = [rng.random() for _ in range(n)] if shuffle else [0.0] * n
    if within is None:
        order = sorted(range(n), key=lambda i: (lengths[i], ties[i]))
    else:
        order = sorted(range(n), key=lambda i: (lengths[i], *within[i], ties[i]))
    batches = _pack(order, lengths, batch_tokens)
    if shuffle:
        rng.shuffle(batches)
    return batches


def sequential_batches(lengths: Sequence[int], batch_tokens: int) -> list[list[int]]:
    """Indices in their original order, packed under the budget (no sorting)."""
    _check_budget(batch_tokens)
    return _pack(range(len(lengths)), lengths, batch_tokens)


def random_batch_indices(n: int, batch_size: int, *, seed: int) -> list[list[int]]:
    """All of ``range(n)`` shuffled and cut into batches of ``batch_size`` (the last may be short)."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, but got {batch_size!r}")
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def padding_fraction(lengths: Sequence[int], batches: Sequence[Sequence[int]]) -> float:
    """Share of padded positions over all batches (each padded to its longest member)."""
    total = real = 0
    for b in batches:
        if b:
            total += len(b) * max(lengths[i] for i in b)
            real += sum(lengths[i] for i in b)
    return 1.0 - real / total if total else 0.0


def epoch_seed(seed: int, epoch: int) -> int:
    """A different, deterministic seed for each epoch of a run."""
    return (int(seed) * 1_000_003 + int(epoch) * 7_919 + 17) % (2**63)


# ---------------------------------------------------------------------------------------------
# Batches


class _Batch:
    """Shared behaviour: ``to(device)`` moves every tensor, ``size`` is the batch size."""

    indices: list[int]

    def to(self, device: torch.device | str, non_blocking: bool = False):
        moved = {
            f.name: getattr(self, f.name).to(device, non_blocking=non_blocking)
            for f in fields(self)  # type: ignore[arg-type]
            if isinstance(getattr(self, f.name), torch.Tensor)
        }
        return replace(self, **moved)  # type: ignore[type-var]

    @property
    def size(self) -> int:
        return len(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


@dataclass
class Seq2SeqBatch(_Batch):
    src: torch.Tensor  # (B, S) long
    tgt_in: torch.Tensor  # (B, T) long: [bos] + y, padded
    tgt_out: torch.Tensor  # (B, T) long: y + [eos], padded with pad_id
    src_pad_mask: torch.Tensor  # (B, S) bool, True at padding
    tgt_pad_mask: torch.Tensor  # (B, T) bool, True at padding
    n_source_tokens: int  # real (non-pad) source tokens
    n_target_tokens: int  # real target tokens in tgt_out (what the loss averages over)
    indices: list[int]  # example indices, to put predictions back in order


@dataclass
class ClassificationBatch(_Batch):
    ids: torch.Tensor  # (B, L) long: [cls] + text, padded
    labels: torch.Tensor  # (B,) long
    pad_mask: torch.Tensor  # (B, L) bool, True at padding
    n_tokens: int
    indices: list[int]


@dataclass
class SpanBatch(_Batch):
    ids: torch.Tensor  # (B, L) long: [cls] question [sep] context, padded
    start: torch.Tensor  # (B,) long, answer start position (0 = cls: no answer kept)
    end: torch.Tensor  # (B,) long, inclusive
    pad_mask: torch.Tensor  # (B, L) bool, True at padding
    context_mask: torch.Tensor  # (B, L) bool, True at context tokens (where spans may lie)
    n_tokens: int
    indices: list[int]


def _pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(1, max(len(r) for r in rows))
    ids = torch.tensor([list(r) + [pad_id] * (width - len(r)) for r in rows], dtype=torch.long)
    lens = torch.tensor([len(r) for r in rows], dtype=torch.long)
    pad_mask = torch.arange(width).unsqueeze(0) >= lens.unsqueeze(1)  # (B, L)
    return ids, pad_mask


def collate_seq2seq(
    enc: EncodedSeq2Seq, indices: Sequence[int], *, pad_id: int = PAD_ID,
    bos_id: int = BOS_ID, eos_id: int = EOS_ID,
) -> Seq2SeqBatch:
    indices = list(indices)
    src, src_pad = _pad([enc.src[i] for i in indices], pad_id)
    tgt_in, tgt_pad = _pad([[bos_id] + enc.tgt[i] for i in indices], pad_id)
    tgt_out, _ = _pad([enc.tgt[i] + [eos_id] for i in indices], pad_id)
    return Seq2SeqBatch(
        src=src,
        tgt_in=tgt_in,
        tgt_out=tgt_out,
        src_pad_mask=src_pad,
        tgt_pad_mask=tgt_pad,
        n_source_tokens=sum(len(enc.src[i]) for i in indices),
        n_target_tokens=sum(len(enc.tgt[i]) + 1 for i in indices),
        indices=indices,
    )


def collate_classification(
    enc: EncodedClassification, indices: Sequence[int], *, pad_id: int = PAD_ID
) -> ClassificationBatch:
    indices = list(indices)
    ids, pad_mask = _pad([enc.ids[i] for i in indices], pad_id)
    return ClassificationBatch(
        ids=ids,
        labels=torch.tensor([enc.label_ids[i] for i in indices], dtype=torch.long),
        pad_mask=pad_mask,
        n_tokens=sum(len(enc.ids[i]) for i in indices),
        indices=indices,
    )


def collate_qa(enc: EncodedQA, indices: Sequence[int], *, pad_id: int = PAD_ID) -> SpanBatch:
    indices = list(indices)
    ids, pad_mask = _pad([enc.ids[i] for i in indices], pad_id)
    positions = torch.arange(ids.shape[1]).unsqueeze(0)  # (1, L)
    ranges = [enc.context_range(i) for i in indices]
    first = torch.tensor([r[0] for r in ranges]).unsqueeze(1)  # (B, 1)
    stop = torch.tensor([r[1] for r in ranges]).unsqueeze(1)
    return SpanBatch(
        ids=ids,
        start=torch.tensor([enc.start[i] for i in indices], dtype=torch.long),
        end=torch.tensor([enc.end[i] for i in indices], dtype=torch.long),
        pad_mask=pad_mask,
        context_mask=(positions >= first) & (positions < stop),
        n_tokens=sum(len(enc.ids[i]) for i in indices),
        indices=indices,
    )


def collate(enc: Encoded, indices: Sequence[int], *, pad_id: int = PAD_ID):
    """The batch of ``indices`` for any encoded set."""
    if isinstance(enc, EncodedSeq2Seq):
        return collate_seq2seq(enc, indices, pad_id=pad_id)
    if isinstance(enc, EncodedClassification):
        return collate_classification(enc, indices, pad_id=pad_id)
    if isinstance(enc, EncodedQA):
        return collate_qa(enc, indices, pad_id=pad_id)
    raise TypeError(f"cannot batch {type(enc).__name__}")


# ---------------------------------------------------------------------------------------------
# Iterators


class BatchStream:
    """An endless stream of training batches, re-bucketed and reshuffled every epoch.

    Epoch ``e`` uses :func:`epoch_seed` ``(seed, e)``, so a run is reproducible and each
    epoch differs. ``epoch`` is the epoch of the batch most recently yielded.
    """

    def __init__(self, enc: Encoded, batch_tokens: int, *, seed: int, pad_id: int = PAD_ID):
        _check_budget(batch_tokens)
        if len(enc) == 0:
            raise ValueError("cannot draw training batches from an empty data set")
        self.enc = enc
        self.batch_tokens = batch_tokens
        self.seed = seed
        self.pad_id = pad_id
        self.epoch = 0
        self._lengths = enc.lengths
        self.batches_per_epoch = len(bucket_batches(self._lengths, batch_tokens, shuffle=False, seed=0))

    def __iter__(self) -> Iterator:
        epoch = 0
        while True:
            self.epoch = epoch
            for indices in bucket_batches(
                self._lengths, self.batch_tokens, shuffle=True, seed=epoch_seed(self.seed, epoch)
            ):
                yield collate(self.enc, indices, pad_id=self.pad_id)
            epoch += 1


def iterate_batches(enc: Encoded, batch_tokens: int, *, seed: int, pad_id: int = PAD_ID) -> Iterator:
    """Endless training batches (see :class:`BatchStream`); use ``next()`` on it or loop with a step limit."""
    return iter(BatchStream(enc, batch_tokens, seed=seed, pad_id=pad_id))


def eval_batches(
    enc: Encoded, batch_tokens: int, *, pad_id: int = PAD_ID, sort: bool = True
) -> Iterator:
    """One pass over every example, each once: sorted by length (``sort``) or in original order.

    Each batch's ``indices`` say which examples it holds, so predictions go back in order::

        preds = [None] * len(enc)
        for batch in eval_batches(enc, 4096):
            for i, p in zip(batch.indices, predict(batch)):
                preds[i] = p
    """
    lengths = enc.lengths
    groups = (
        bucket_batches(lengths, batch_tokens, shuffle=False, seed=0)
        if sort
        else sequential_batches(lengths, batch_tokens)
    )
    for indices in groups:
        yield collate(enc, indices, pad_id=pad_id)


def random_batches(
    enc: Encoded, batch_size: int, *, seed: int, pad_id: int = PAD_ID
) -> Iterator:
    """One epoch of the same examples in random fixed-size padded batches, no bucketing.

    The baseline the throughput benchmark compares bucketing against.
    """
    for indices in random_batch_indices(len(enc), batch_size, seed=seed):
        yield collate(enc, indices, pad_id=pad_id)


__all__ = [
    "BatchStream",
    "ClassificationBatch",
    "Seq2SeqBatch",
    "SpanBatch",
    "bucket_batches",
    "collate",
    "collate_classification",
    "collate_qa",
    "collate_seq2seq",
    "epoch_seed",
    "eval_batches",
    "iterate_batches",
    "padding_fraction",
    "random_batch_indices",
    "random_batches",
    "sequential_batches",
]
