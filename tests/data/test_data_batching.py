"""Length-bucketed batches under a token budget, masks, iterators and the random baseline."""

from __future__ import annotations

import itertools
import random

import pytest
import torch

from tfcli.data.batching import (
    BatchStream,
    ClassificationBatch,
    Seq2SeqBatch,
    SpanBatch,
    bucket_batches,
    eval_batches,
    iterate_batches,
    padding_fraction,
    random_batch_indices,
    random_batches,
)
from tfcli.data.builtin import load_builtin
from tfcli.data.encode import encode_classification, encode_qa, encode_seq2seq
from tfcli.data.tokenizer import SubwordTokenizer

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TFCLI_CACHE", str(tmp_path / "cache"))


def lengths_5_to_60(n=2000, seed=0):
    rng = random.Random(seed)
    return [rng.randint(5, 60) for _ in range(n)]


@pytest.mark.parametrize("budget", [64, 500, 2048])
def test_bucket_batches_respect_budget_and_cover_all(budget):
    lengths = lengths_5_to_60() + [100, 3000]  # 3000: longer than any budget here
    batches = bucket_batches(lengths, budget, shuffle=True, seed=1)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(len(lengths)))
    for b in batches:
        padded = len(b) * max(lengths[i] for i in b)
        assert padded <= budget or len(b) == 1


def test_bucket_batches_deterministic_and_shuffled():
    lengths = lengths_5_to_60()
    a = bucket_batches(lengths, 1000, shuffle=True, seed=3)
    assert a == bucket_batches(lengths, 1000, shuffle=True, seed=3)
    assert a != bucket_batches(lengths, 1000, shuffle=True, seed=4)
    plain = bucket_batches(lengths, 1000, shuffle=False, seed=0)
    maxes = [max(lengths[i] for i in b) for b in plain]
    assert maxes == sorted(maxes)  # unshuffled: in length order


def test_bucketing_pads_less_than_random_batches():
    lengths = lengths_5_to_60()
    bucketed = bucket_batches(lengths, 2048, shuffle=True, seed=0)
    batch_size = len(lengths) // len(bucketed)  # same number of batches
    rand = random_batch_indices(len(lengths), batch_size, seed=0)
    assert sorted(i for b in rand for i in b) == list(range(len(lengths)))
    pb, pr = padding_fraction(lengths, bucketed), padding_fraction(lengths, rand)
    assert pb < 0.1 < 0.3 < pr


@pytest.fixture(scope="module")
def dates():
    s = load_builtin("dates", train_size=300, valid_size=40, test_size=5)
    tok = SubwordTokenizer.train([e.source for e in s.train] + [e.target for e in s.train],
                                 vocab_size=200, use_cache=False)
    return tok, encode_seq2seq(s.train, tok, 64, 32), encode_seq2seq(s.valid, tok, 64, 32)


def test_seq2seq_batch_masks(dates):
    tok, enc, _ = dates
    batch = next(iterate_batches(enc, 256, seed=0, pad_id=tok.pad_id))
    assert isinstance(batch, Seq2SeqBatch)
    b, s = batch.src.shape
    assert batch.src.dtype == torch.long and batch.src_pad_mask.dtype == torch.bool
    assert b * max(s, batch.tgt_in.shape[1]) <= 256
    assert torch.equal(batch.src_pad_mask, batch.src == tok.pad_id)
    assert torch.equal(batch.tgt_pad_mask, batch.tgt_out == tok.pad_id)
    assert torch.equal(batch.tgt_pad_mask, batch.tgt_in == tok.pad_id)
    for row, i in enumerate(batch.indices):
        y = enc.tgt[i]
        n = len(y) + 1
        assert batch.tgt_in[row, :n].tolist() == [tok.bos_id] + y
        assert batch.tgt_out[row, :n].tolist() == y + [tok.eos_id]
        assert batch.src[row, : len(enc.src[i])].tolist() == enc.src[i]
    assert batch.n_target_tokens == int((~batch.tgt_pad_mask).sum())
    assert batch.n_source_tokens == int((~batch.src_pad_mask).sum())
    moved = batch.to("cpu")
    assert isinstance(moved, Seq2SeqBatch) and moved.indices == batch.indices


def test_training_stream_reshuffles_each_epoch(dates):
    tok, enc, _ = dates
    stream = BatchStream(enc, 256, seed=5)
    it = iter(stream)
    n = stream.batches_per_epoch
    epoch0 = [next(it).indices for _ in range(n)]
    assert stream.epoch == 0
    epoch1 = [next(it).indices for _ in range(n)]
    assert stream.epoch == 1
    assert sorted(i for b in epoch0 for i in b) == list(range(len(enc)))
    assert sorted(i for b in epoch1 for i in b) == list(range(len(enc)))
    assert epoch0 != epoch1
    again = [b.indices for b in itertools.islice(iterate_batches(enc, 256, seed=5), n)]
    assert again == epoch0


def test_eval_batches_cover_every_example_once(dates):
    tok, _, valid = dates
    for sort in (True, False):
        seen = [i for b in eval_batches(valid, 128, sort=sort) for i in b.indices]
        assert sorted(seen) == list(range(len(valid)))
        if not sort:
            assert seen == list(range(len(valid)))


def test_random_batches_baseline(dates):
    tok, enc, _ = dates
    batches = list(random_batches(enc, 32, seed=0))
    assert all(b.src.shape[0] == 32 for b in batches[:-1])
    assert sorted(i for b in batches for i in b.indices) == list(range(len(enc)))


def test_classification_and_span_batches():
    s = load_builtin("facts", train_size=60, valid_size=5, test_size=5)
    tok = SubwordTokenizer.train([e.context for e in s.train] + [e.question for e in s.train],
                                 vocab_size=300, use_cache=False)
    qa = encode_qa(s.train, tok, 256)
    batch = next(iterate_batches(qa, 1024, seed=0))
    assert isinstance(batch, SpanBatch)
    assert torch.equal(batch.pad_mask, batch.ids == tok.pad_id)
    for row, i in enumerate(batch.indices):
        first, stop = qa.context_range(i)
        assert batch.context_mask[row].nonzero().flatten().tolist() == list(range(first, stop))
        assert batch.context_mask[row, batch.start[row]] and batch.context_mask[row, batch.end[row]]
    assert not (batch.context_mask & batch.pad_mask).any()

    sent = load_builtin("sentiment", train_size=50, valid_size=5, test_size=5)
    tok2 = SubwordTokenizer.train([e.text for e in sent.train], vocab_size=200, use_cache=False)
    cls = encode_classification(sent.train, tok2, 64)
    cb = next(iterate_batches(cls, 512, seed=0))
    assert isinstance(cb, ClassificationBatch)
    assert (cb.ids[:, 0] == tok2.cls_id).all()
    assert cb.labels.tolist() == [cls.label_ids[i] for i in cb.indices]
    assert cb.n_tokens == int((~cb.pad_mask).sum())


def test_ordering_within_buckets_by_both_sides_cuts_padding_under_the_same_budget():
    rng = random.Random(4)
    # Enough examples that each length has several batches to reorder (as in a real corpus).
    sides = [(rng.randint(5, 60), rng.randint(5, 60)) for _ in range(20000)]
    lengths = [max(s, t) for s, t in sides]

    def padding(batches):
        real = sum(s + t for s, t in sides)
        padded = sum(len(b) * (max(sides[i][0] for i in b) + max(sides[i][1] for i in b)) for b in batches)
        return 1 - real / padded

    plain = bucket_batches(lengths, 4096, shuffle=True, seed=1)
    paired = bucket_batches(lengths, 4096, shuffle=True, seed=1, within=sides)
    assert sorted(i for b in paired for i in b) == list(range(20000))
    assert all(len(b) * max(lengths[i] for i in b) <= 4096 for b in paired)
    assert padding(paired) < padding(plain) - 0.05
    assert paired == bucket_batches(lengths, 4096, shuffle=True, seed=1, within=sides)
    assert paired != bucket_batches(lengths, 4096, shuffle=True, seed=2, within=sides)
