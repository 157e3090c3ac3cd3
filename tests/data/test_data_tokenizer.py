"""The subword tokenizer: round trip, fixed special ids, cache, save/load, offsets."""

from __future__ import annotations

import time

import pytest

from tfcli.data.builtin import load_builtin
from tfcli.data.tokenizer import SPECIAL_TOKENS, SubwordTokenizer, cache_root
from tfcli.errors import DataError

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TFCLI_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def texts():
    s = load_builtin("facts", train_size=300, valid_size=5, test_size=5)
    return [e.context for e in s.train] + [e.question for e in s.train]


@pytest.mark.parametrize("kind", ["bpe", "unigram"])
def test_round_trip_and_special_ids(texts, kind):
    tok = SubwordTokenizer.train(texts, kind=kind, vocab_size=400)
    assert tok.kind == kind
    assert [tok.token_to_id(t) for t in SPECIAL_TOKENS] == [0, 1, 2, 3, 4, 5]
    assert (tok.pad_id, tok.unk_id, tok.bos_id, tok.eos_id, tok.sep_id, tok.cls_id) == (0, 1, 2, 3, 4, 5)
    for text in texts[:50] + ["  Maria   Lopez, born in Oslo (1984)!  ", "Zebra-quux #7"]:
        assert tok.decode(tok.encode(text)) == tok.normalize(text)
    assert tok.normalize("  a \t b\n") == "a b"
    assert tok.vocab_size <= 400


def test_lowercase(texts):
    tok = SubwordTokenizer.train(texts, vocab_size=300, lowercase=True)
    assert tok.decode(tok.encode("Maria Lopez")) == "maria lopez"


def test_decode_skips_specials_and_stops_at_eos(texts):
    tok = SubwordTokenizer.train(texts, vocab_size=300)
    ids = tok.encode("born in Oslo")
    assert tok.decode([tok.bos_id] + ids + [tok.eos_id, tok.pad_id]) == "born in Oslo"
    assert tok.decode(ids + [tok.eos_id] + ids) == "born in Oslo"
    assert tok.decode_batch([ids, ids[:1]])[0] == "born in Oslo"
    assert tok.encode_batch(["born in Oslo", "x"])[0] == ids


def test_cache_hit(texts, tmp_path):
    t0 = time.perf_counter()
    a = SubwordTokenizer.train(texts, vocab_size=500)
    first = time.perf_counter() - t0
    files = list((tmp_path / "cache" / "tokenizers").glob("*.json"))
    assert [f.stem for f in files] == [a.cache_key]
    t0 = time.perf_counter()
    b = SubwordTokenizer.train(texts, vocab_size=500)
    second = time.perf_counter() - t0
    assert b.content_hash == a.content_hash and b.cache_key == a.cache_key
    assert b.encode(texts[0]) == a.encode(texts[0])
    assert second < max(first, 0.05)
    # other settings or other texts: another entry
    c = SubwordTokenizer.train(texts, vocab_size=450)
    d = SubwordTokenizer.train(texts[1:], vocab_size=500)
    assert len({a.cache_key, c.cache_key, d.cache_key}) == 3
    assert len(list((tmp_path / "cache" / "tokenizers").glob("*.json"))) == 3


def test_cache_dir_argument_and_env(texts, tmp_path):
    assert cache_root() == tmp_path / "cache"
    SubwordTokenizer.train(texts[:50], vocab_size=100, cache_dir=tmp_path / "elsewhere")
    assert list((tmp_path / "elsewhere" / "tokenizers").glob("*.json"))
    SubwordTokenizer.train(texts[:40], vocab_size=100, use_cache=False)
    assert not (tmp_path / "cache").exists()


def test_save_load(texts, tmp_path):
    tok = SubwordTokenizer.train(texts, vocab_size=300)
    path = tok.save(tmp_path / "ckpt")
    assert path == tmp_path / "ckpt" / "tokenizer.json" and path.is_file()
    back = SubwordTokenizer.load(tmp_path / "ckpt")
    assert back.content_hash == tok.content_hash
    assert back.encode(texts[3]) == tok.encode(texts[3])
    assert SubwordTokenizer.load(path).vocab_size == tok.vocab_size
    assert tok.save(tmp_path / "x" / "tok.json").name == "tok.json"
    with pytest.raises(DataError, match="no such tokenizer file"):
        SubwordTokenizer.load(tmp_path / "missing")


def test_offsets_point_at_visible_text(texts):
    tok = SubwordTokenizer.train(texts, vocab_size=400)
    text = "Maria Lopez was born in Oslo in 1984."
    ids, offsets = tok.encode_with_offsets(text)
    assert ids == tok.encode(text)
    assert len(offsets) == len(ids)
    pieces = [text[s:e] for s, e in offsets]
    assert "".join(pieces) == text.replace(" ", "")
    assert all(not p.startswith(" ") for p in pieces)
    assert tok.encode_batch_with_offsets([text])[0] == (ids, offsets)


def test_bad_settings(texts):
    with pytest.raises(DataError, match="kind must be one of bpe, unigram"):
        SubwordTokenizer.train(texts, kind="wordpiece")
    with pytest.raises(DataError, match="vocab_size must be an integer >= 32"):
        SubwordTokenizer.train(texts, vocab_size=10)
    with pytest.raises(DataError, match="without texts"):
        SubwordTokenizer.train(["", ""])
