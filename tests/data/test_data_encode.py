"""Per-task encoding: layouts, label vocabulary, QA spans, counted truncation."""

from __future__ import annotations

import warnings

import pytest

from tfcli.data.builtin import load_builtin
from tfcli.data.encode import (
    TruncationWarning,
    encode_classification,
    encode_qa,
    encode_seq2seq,
)
from tfcli.data.examples import ClassificationExample, QAExample, Seq2SeqExample
from tfcli.data.tokenizer import SubwordTokenizer
from tfcli.errors import DataError

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TFCLI_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def facts():
    return load_builtin("facts", train_size=300, valid_size=50, test_size=5)


@pytest.fixture(scope="module")
def facts_tok(facts):
    texts = [e.context for e in facts.train] + [e.question for e in facts.train]
    return SubwordTokenizer.train(texts, vocab_size=500, use_cache=False)


def test_seq2seq_layout_and_truncation():
    s = load_builtin("dates", train_size=200, valid_size=5, test_size=5)
    tok = SubwordTokenizer.train([e.source for e in s.train] + [e.target for e in s.train],
                                 vocab_size=200, use_cache=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        enc = encode_seq2seq(s.train, tok, 64, 32)  # nothing cut: no warning
    assert len(enc) == 200 and enc.truncated == 0
    assert enc.src[0] == tok.encode(s.train[0].source)
    assert enc.tgt[0] == tok.encode(s.train[0].target)  # no bos/eos: the loop adds them
    assert tok.decode(enc.tgt[0]) == s.train[0].target
    assert enc.lengths[0] == max(len(enc.src[0]), len(enc.tgt[0]) + 1)

    with pytest.warns(TruncationWarning, match=r"truncated \d+ of 200 train examples") as rec:
        short = encode_seq2seq(s.train, tok, 4, 4, split="train")
    assert len(rec) == 1
    long_src = sum(len(x) > 4 for x in enc.src)
    long_tgt = sum(len(x) > 3 for x in enc.tgt)
    assert short.truncated_source == long_src > 0
    assert short.truncated_target == long_tgt > 0
    assert short.truncated == sum(len(a) > 4 or len(b) > 3 for a, b in zip(enc.src, enc.tgt))
    assert max(len(x) for x in short.src) == 4 and max(len(x) for x in short.tgt) == 3


def test_classification_labels(facts_tok):
    train = [ClassificationExample("born in Oslo", "b"), ClassificationExample("in Lima", "a")]
    enc = encode_classification(train, facts_tok, 16)
    assert enc.labels == ["a", "b"] and enc.label_ids == [1, 0] and enc.num_labels == 2
    assert enc.ids[0][0] == facts_tok.cls_id and enc.ids[0][1:] == facts_tok.encode("born in Oslo")
    valid = encode_classification([ClassificationExample("x", "a")], facts_tok, 16, enc.labels)
    assert valid.label_ids == [0]
    with pytest.raises(DataError, match=r"valid labels must be among the training labels \(a, b\), but got 'c'"):
        encode_classification([ClassificationExample("x", "c")], facts_tok, 16, enc.labels, split="valid")
    with pytest.warns(TruncationWarning, match="truncated 1 of 2"):
        cut = encode_classification(train, facts_tok, 3)
    assert cut.truncated == 1 and max(cut.lengths) == 3


def test_qa_spans_map_back_to_answers(facts, facts_tok):
    enc = encode_qa(facts.valid, facts_tok, 512)
    assert enc.truncated == 0 and enc.answer_truncated == 0 and all(enc.answerable)
    for i, ex in enumerate(facts.valid):
        ids = enc.ids[i]
        first, stop = enc.context_range(i)
        assert ids[0] == facts_tok.cls_id and ids[first - 1] == facts_tok.sep_id
        assert stop == len(ids)
        assert first <= enc.start[i] <= enc.end[i] < stop
        assert enc.span_text(i, enc.start[i], enc.end[i]) == ex.answers[0]
    assert enc.span_text(0, 0, 0) == ""  # the cls: no answer
    assert enc.span_text(0, enc.end[0], enc.start[0] - 1) == ""


def test_qa_truncation_counts_lost_answers(facts_tok):
    context = "Ann was born in Oslo. " * 10 + "Bob was born in Lima."
    ex = QAExample(context, "Where was Bob born?", ("Lima",), (context.index("Lima"),))
    early = QAExample(context, "Where was Ann born?", ("Oslo",), (context.index("Oslo"),))
    with pytest.warns(TruncationWarning, match="1 lost their answer"):
        enc = encode_qa([ex, early], facts_tok, 24)
    assert enc.truncated == 2 and enc.answer_truncated == 1
    assert enc.answerable == [False, True]
    assert (enc.start[0], enc.end[0]) == (0, 0)
    assert enc.span_text(1, enc.start[1], enc.end[1]) == "Oslo"
    assert max(enc.lengths) == 24


def test_bad_lengths(facts_tok):
    with pytest.raises(DataError, match="max_target_length must be an integer >= 2"):
        encode_seq2seq([Seq2SeqExample("a", "b")], facts_tok, 8, 1)
    with pytest.raises(DataError, match="max_length must be an integer >= 8"):
        encode_qa([], facts_tok, 4)
