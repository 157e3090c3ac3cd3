"""The built-in generated data sets: determinism, disjoint splits, sizes, non-triviality."""

from __future__ import annotations

import re
from collections import defaultdict

import pytest

from tfcli.data.builtin import (
    BUILTIN_TASKS,
    DEFAULT_SIZES,
    headlines,
    load_builtin,
    load_data,
    toylang,
)
from tfcli.data.builtin.words import number_words, ordinal_suffix, ordinal_words
from tfcli.data.examples import ClassificationExample, QAExample, Seq2SeqExample
from tfcli.spec.tasks import TASKS
from tfcli.errors import DataError

pytestmark = pytest.mark.timeout(120)

SMALL = {"train_size": 300, "valid_size": 40, "test_size": 40}


def _key(ex):
    if isinstance(ex, Seq2SeqExample):
        return ex.source
    if isinstance(ex, ClassificationExample):
        return ex.text
    return (ex.context, ex.question)


def test_builtin_tasks_match_task_metadata():
    for task, info in TASKS.items():
        for name in info.builtin_sets:
            assert BUILTIN_TASKS[name] == task
    assert set(BUILTIN_TASKS) == set(DEFAULT_SIZES) == {
        "dates", "toylang", "headlines", "sentiment", "facts"
    }


@pytest.mark.parametrize("name", sorted(BUILTIN_TASKS))
def test_deterministic_by_seed(name):
    a = load_builtin(name, seed=3, **SMALL)
    b = load_builtin(name, seed=3, **SMALL)
    c = load_builtin(name, seed=4, **SMALL)
    assert a == b
    assert a.train != c.train


@pytest.mark.parametrize("name", sorted(BUILTIN_TASKS))
def test_sizes_and_disjoint_splits(name):
    s = load_builtin(name, seed=1, **SMALL)
    assert s.sizes() == {"train": 300, "valid": 40, "test": 40}
    keys = {split: {_key(e) for e in exs} for split, exs in s}
    assert len(keys["train"]) == 300  # no duplicates inside a split either
    assert not keys["train"] & keys["valid"]
    assert not keys["train"] & keys["test"]
    assert not keys["valid"] & keys["test"]


def test_test_set_does_not_depend_on_train_size():
    a = load_builtin("dates", train_size=100, valid_size=20, test_size=20, seed=0)
    b = load_builtin("dates", train_size=500, valid_size=20, test_size=20, seed=0)
    assert a.test == b.test and a.valid == b.valid


def test_default_sizes():
    s = load_builtin("sentiment")
    assert tuple(s.sizes().values()) == DEFAULT_SIZES["sentiment"]


def test_example_types():
    expected = {"dates": Seq2SeqExample, "toylang": Seq2SeqExample, "headlines": Seq2SeqExample,
                "sentiment": ClassificationExample, "facts": QAExample}
    for name, cls in expected.items():
        s = load_builtin(name, train_size=5, valid_size=2, test_size=2)
        assert all(isinstance(e, cls) for _, exs in s for e in exs)


def test_dates_targets_are_normal_form_and_not_copies():
    s = load_builtin("dates", seed=0, **SMALL)
    for ex in s.train:
        assert re.fullmatch(r"(19|20)\d\d - (0[1-9]|1[0-2]) - [0-3]\d", ex.target), ex
        assert ex.target not in ex.source
        assert len(ex.target.split()) == 5
    # many surface forms: written-out words and digits both occur
    assert any("nineteen" in e.source or "thousand" in e.source for e in s.train)
    assert any("/" in e.source for e in s.train)
    # copying the source as the prediction gets (almost) no target token right
    hits = sum(len(set(e.source.split()) & set(e.target.split())) for e in s.train)
    total = sum(len(e.target.split()) for e in s.train)
    assert hits / total < 0.15


def test_date_targets_are_correct():
    import datetime as dt
    s = load_builtin("dates", seed=2, **SMALL)
    for ex in s.train:
        y, m, d = (int(x) for x in ex.target.split(" - "))
        dt.date(y, m, d)  # a real date
        if "/" in ex.source:
            mm, dd, yy = (int(x) for x in ex.source.split("/"))
            assert (yy, mm, dd) == (y, m, d)


def test_number_words():
    assert number_words(94) == "ninety-four"
    assert ordinal_words(3) == "third"
    assert ordinal_words(22) == "twenty-second"
    assert ordinal_words(30) == "thirtieth"
    assert ordinal_suffix(11) == "11th" and ordinal_suffix(23) == "23rd"


def test_toylang_reorders_and_agrees():
    s = load_builtin("toylang", seed=0, train_size=2000, valid_size=10, test_size=10)
    lex = toylang._toylang_lexicon()
    assert len(lex["noun"]) + len(lex["adj"]) + len(lex["verb"]) >= 200
    src_vocab = {w for e in s.train for w in e.source.split()}
    tgt_vocab = {w for e in s.train for w in e.target.split()}
    assert len(src_vocab) > 200 and len(tgt_vocab) > 300
    # SOV: the target ends with the verb, which carries tense and agreement suffixes
    verbs = set(lex["verb"].values())
    for ex in s.train[:200]:
        last = ex.target.split()[-1]
        assert any(last.startswith(v) and last[len(v):] in {
            t + a for t in ("", "ek", "or") for a in ("us", "is", "ant")} for v in verbs), ex
    # adjectives follow the noun and agree: the same English adjective shows several forms
    big = lex["adj"]["big"]
    forms = {w[len(big):] for e in s.train for w in e.target.split() if w.startswith(big)
             and w[len(big):] in {"o", "a", "os", "as"}}
    assert len(forms) >= 3
    # not a word-by-word copy: lengths differ (articles, postpositions, negation particle)
    assert sum(len(e.source.split()) != len(e.target.split()) for e in s.train) > 500


def test_headlines_facts_come_from_the_paragraph():
    s = load_builtin("headlines", seed=0, **SMALL)
    for ex in s.train:
        words = ex.target.split()
        number = next(w for w in words if w.isdigit())
        town = words[-1]
        assert number in ex.source and town in ex.source
        assert ex.target not in ex.source
        assert len(re.findall(r"[.!?](\s|$)", ex.source)) >= 3  # several sentences
        # distractors: the paragraph mentions more towns than the headline
        assert len(set(re.findall(r"\b(" + "|".join(headlines._TOWNS) + r")\b", ex.source))) >= 1
    multi = sum(
        len(set(re.findall(r"\b(" + "|".join(headlines._TOWNS) + r")\b", e.source))) > 1
        for e in s.train
    )
    assert multi > 100


def test_sentiment_word_order_matters():
    # pairs of examples with the same bag of words and different labels exist
    s = load_builtin("sentiment", seed=0, train_size=6000, valid_size=10, test_size=10)
    by_bag = defaultdict(set)
    for ex in s.train:
        by_bag[tuple(sorted(re.findall(r"[a-z]+", ex.text)))].add(ex.label)
    assert sum(len(labels) > 1 for labels in by_bag.values()) >= 5


def test_sentiment_is_not_solved_by_bag_of_words():
    import math
    from collections import Counter
    s = load_builtin("sentiment", seed=0, train_size=4000, valid_size=10, test_size=500)
    labels = sorted({e.label for e in s.train})
    assert labels == ["mixed", "negative", "positive"]
    prior = Counter(e.label for e in s.train)
    counts = {lab: Counter() for lab in labels}
    for ex in s.train:
        counts[ex.label].update(re.findall(r"[a-z]+", ex.text))
    vocab = {w for c in counts.values() for w in c}

    def predict(text):
        def score(lab):
            total = sum(counts[lab].values()) + len(vocab)
            return math.log(prior[lab]) + sum(
                math.log((counts[lab][w] + 1) / total) for w in re.findall(r"[a-z]+", text))
        return max(labels, key=score)

    acc = sum(predict(e.text) == e.label for e in s.test) / len(s.test)
    assert acc < 0.7  # a naive Bayes bag of words stays far from a good model
    assert max(prior.values()) / sum(prior.values()) < 0.5
    assert any(" not " in e.text or " never " in e.text for e in s.train)
    assert any(" but " in e.text or "although" in e.text for e in s.train)


def test_facts_answers_are_at_their_offsets():
    s = load_builtin("facts", seed=0, **SMALL)
    ids = set()
    for _, exs in s:
        for ex in exs:
            for answer, start in zip(ex.answers, ex.answer_starts):
                assert ex.context[start:start + len(answer)] == answer
            ids.add(ex.id)
    assert len(ids) == 380
    # several people per paragraph, so the question matters
    assert all(ex.context.count(" was born in ") + ex.context.count("Born in ") >= 2
               for ex in s.train)
    questions = {ex.question.split()[0] for ex in s.train}
    assert {"Where", "When", "What", "Who"} <= questions


def test_unknown_builtin_lists_the_sets():
    with pytest.raises(DataError, match="dates, facts, headlines, sentiment, toylang"):
        load_builtin("nope")


def test_bad_size():
    with pytest.raises(DataError, match="train_size must be a positive integer"):
        load_builtin("dates", train_size=0)


def test_load_data_builtin_checks_task():
    s = load_data("translation", "builtin:dates", train_size=10, valid_size=2, test_size=2)
    assert len(s.train) == 10
    with pytest.raises(DataError, match="builtin:facts is a qa data set.*builtin:dates, builtin:toylang"):
        load_data("translation", "builtin:facts")
    with pytest.raises(DataError, match="unknown builtin"):
        load_data("translation", "builtin:nope")
    with pytest.raises(DataError, match="task must be one of"):
        load_data("poetry", "builtin:dates")
    with pytest.raises(DataError, match="'builtin:NAME' or a mapping"):
        load_data("translation", "dates")


def test_load_data_files(tmp_path):
    train = tmp_path / "train.tsv"
    train.write_text("".join(f"source {i}\ttarget {i}\n" for i in range(40)))
    s = load_data("translation", {"train": str(train)}, train_size=10, seed=0)
    assert len(s.train) == 10 and len(s.valid) == 2 and len(s.test) == 2
    with pytest.raises(DataError, match="keys train, valid, test, format, columns"):
        load_data("translation", {"train": str(train), "dev": "x"})
    with pytest.raises(DataError, match="need a 'train' path"):
        load_data("translation", {"valid": str(train)})


def test_same_data_in_another_process_and_no_torch_import():
    import hashlib
    import os
    import subprocess
    import sys

    code = (
        "import sys, hashlib\n"
        "from tfcli.data.builtin import load_builtin, DEFAULT_SIZES\n"
        "import tfcli.data.files, tfcli.data.tokenizer, tfcli.data\n"
        "assert 'torch' not in sys.modules\n"
        "data = [load_builtin(n, train_size=50, valid_size=5, test_size=5, seed=7) for n in DEFAULT_SIZES]\n"
        "print(hashlib.sha256(repr(data).encode()).hexdigest())\n"
    )
    env = dict(os.environ, PYTHONHASHSEED="123")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    here = [load_builtin(n, train_size=50, valid_size=5, test_size=5, seed=7) for n in DEFAULT_SIZES]
    assert out.stdout.strip() == hashlib.sha256(repr(here).encode()).hexdigest()
