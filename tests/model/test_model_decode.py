"""Greedy and beam-search decoding: cache equivalence, beam 1 == greedy, length penalty."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from tfcli.model import build_model, TransformerConfig
from tfcli.model.decode import beam_search, greedy_decode, length_normalised

pytestmark = pytest.mark.timeout(300)

V, PAD, BOS, EOS = 12, 0, 1, 2


@pytest.fixture(autouse=True)
def _seed():
    # One thread: these tensors are tiny, so threads only add overhead and contention.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


def tiny_model(seed=0, **overrides):
    torch.manual_seed(seed)
    config = TransformerConfig(
        **{
            **dict(vocab_size=V, d_model=32, heads=4, encoder_layers=2, decoder_layers=2),
            **dict(ffn_dim=64, dropout=0.1, max_length=32),
            **overrides,
        }
    )
    return build_model(config).eval()


def sources(seed=0):
    """Six sources of different lengths, right-padded: one batch, padding included."""
    g = torch.Generator().manual_seed(seed)
    lengths = [7, 3, 5, 1, 7, 4]
    ids = torch.randint(3, V, (len(lengths), 7), generator=g)
    ids[torch.arange(7)[None, :] >= torch.tensor(lengths)[:, None]] = PAD
    return ids


def check_outputs(outputs, n, max_length):
    assert isinstance(outputs, list) and len(outputs) == n
    for seq in outputs:
        assert all(isinstance(t, int) for t in seq)
        assert BOS not in seq and EOS not in seq and PAD not in seq
        assert len(seq) <= max_length


VARIANTS = [
    dict(positional="sinusoidal", norm="pre"),
    dict(positional="learned", norm="post"),
    dict(positional="rotary", norm="pre"),
    dict(positional="rotary", norm="post", tie_embeddings=False),
]
ids_of = lambda v: "-".join(f"{k}={x}" for k, x in v.items())  # noqa: E731


def reverse_batch(g, n=16, T=7):
    """Random sources of length 1..T and their reversals: (src, decoder input, target)."""
    lengths = torch.randint(1, T + 1, (n,), generator=g)
    src = torch.randint(3, V, (n, T), generator=g)
    src[torch.arange(T)[None, :] >= lengths[:, None]] = PAD
    tgt = torch.full((n, T + 1), PAD)
    for i, length in enumerate(lengths.tolist()):
        tgt[i, :length] = src[i, :length].flip(0)
        tgt[i, length] = EOS
    tgt_in = torch.cat((torch.full((n, 1), BOS), tgt[:, :-1]), dim=1)
    return src, tgt_in, tgt


_MODELS: dict = {}


def decoding_models(variant):
    """(random init, 40 Adam steps on reversal) x 2 seeds, in eval mode, built once.

    A random model mostly repeats one token and seldom emits eos; a partly trained one
    ends sequences at many lengths and its beams disagree with greedy, which exercises
    every path of the search (finishing, reordering, running out of length).
    """
    key = ids_of(variant)
    if key not in _MODELS:
        models = []
        for seed in range(2):
            for steps in (0, 40):
                model = tiny_model(seed, **variant)
                g = torch.Generator().manual_seed(seed)
                opt = torch.optim.Adam(model.parameters(), lr=3e-3)
                model.train()
                for _ in range(steps):
                    src, tgt_in, tgt = reverse_batch(g)
                    logits = model(src, tgt_in)
                    loss = F.cross_entropy(logits.reshape(-1, V), tgt.reshape(-1), ignore_index=PAD)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                models.append((seed, model.eval()))
        _MODELS[key] = models
    return _MODELS[key]


@pytest.mark.parametrize("variant", VARIANTS, ids=ids_of)
def test_cached_greedy_equals_uncached(variant):
    for seed, model in decoding_models(variant):
        src = sources(seed + 10)
        cached = greedy_decode(model, src, bos_id=BOS, eos_id=EOS, max_length=12)
        plain = greedy_decode(model, src, bos_id=BOS, eos_id=EOS, max_length=12, use_cache=False)
        check_outputs(cached, len(src), 12)
        assert cached == plain


@pytest.mark.parametrize("variant", VARIANTS, ids=ids_of)
@pytest.mark.parametrize("length_penalty", [0.0, 1.0])
def test_cached_beam_search_equals_uncached(variant, length_penalty):
    for seed, model in decoding_models(variant):
        src = sources(seed + 10)
        kw = dict(bos_id=BOS, eos_id=EOS, beam_size=3, length_penalty=length_penalty, max_length=12)
        cached = beam_search(model, src, **kw)
        plain = beam_search(model, src, **kw, use_cache=False)
        check_outputs(cached, len(src), 12)
        assert cached == plain


@pytest.mark.parametrize("variant", VARIANTS, ids=ids_of)
def test_beam_size_one_equals_greedy(variant):
    lengths = []
    for seed, model in decoding_models(variant):
        src = sources(seed + 10)
        greedy = greedy_decode(model, src, bos_id=BOS, eos_id=EOS, max_length=10)
        for alpha in (0.0, 1.0):
            beam = beam_search(
                model, src, bos_id=BOS, eos_id=EOS, beam_size=1, length_penalty=alpha, max_length=10
            )
            assert beam == greedy
        lengths += [len(s) for s in greedy]
    # The comparison covered both ways of ending: eos at various lengths, and the length cap.
    assert len(set(lengths) - {10}) >= 2 and 10 in lengths


def test_wider_beams_differ_from_greedy_somewhere():
    """Guards the tests above against models too degenerate for beams to matter."""
    differ = 0
    for variant in VARIANTS:
        for seed, model in decoding_models(variant):
            src = sources(seed + 10)
            kw = dict(bos_id=BOS, eos_id=EOS, max_length=10)
            differ += greedy_decode(model, src, **kw) != beam_search(model, src, beam_size=3, **kw)
    assert differ >= 4


def test_decoding_is_batch_independent():
    """Each source decodes the same alone as in a padded batch."""
    (_, model), src = decoding_models(VARIANTS[2])[-1], sources(1)
    kw = dict(bos_id=BOS, eos_id=EOS, max_length=10)
    batch_greedy = greedy_decode(model, src, **kw)
    batch_beam = beam_search(model, src, beam_size=3, **kw)
    for i in range(len(src)):
        one = src[i : i + 1, : int((src[i] != PAD).sum())]
        assert greedy_decode(model, one, **kw) == [batch_greedy[i]]
        assert beam_search(model, one, beam_size=3, **kw) == [batch_beam[i]]


@pytest.mark.parametrize("variant", VARIANTS, ids=ids_of)
def test_cache_logits_equal_full_prefix_logits(variant):
    """Prefill several tokens into the cache, then step one at a time: the logits match a
    forward pass over the whole prefix (the bottom-right causal mask at work)."""
    _, model = decoding_models(variant)[-1]
    src, tgt_in, _ = reverse_batch(torch.Generator().manual_seed(7), n=4)
    memory, mask = model.encode(src), model.padding_mask(src)
    with torch.no_grad():
        full = model.decode(tgt_in, memory, mask)  # (B,T,V)
        cache = model.new_cache()
        parts = [model.decode(tgt_in[:, :3], memory, mask, cache)]
        assert cache.length == 3
        for t in range(3, tgt_in.size(1)):
            parts.append(model.decode(tgt_in[:, t : t + 1], memory, mask, cache))
        assert cache.length == tgt_in.size(1)
    torch.testing.assert_close(torch.cat(parts, dim=1), full, atol=1e-5, rtol=0)


def test_decoding_restores_training_mode_and_ignores_dropout():
    model, src = tiny_model(0, dropout=0.5), sources(0)
    model.train()
    kw = dict(bos_id=BOS, eos_id=EOS, max_length=8)
    first = beam_search(model, src, beam_size=2, **kw)
    assert model.training
    assert beam_search(model, src, beam_size=2, **kw) == first  # dropout was off
    assert greedy_decode(model, src, **kw) == greedy_decode(model, src, **kw)
    assert model.training
    model.eval()
    greedy_decode(model, src, **kw)
    assert not model.training


def test_decoding_accepts_a_compiled_model_and_refuses_other_kinds():
    model, src = tiny_model(0), sources(0)
    compiled = torch.compile(model, backend="eager")
    kw = dict(bos_id=BOS, eos_id=EOS, max_length=6)
    assert greedy_decode(compiled, src, **kw) == greedy_decode(model, src, **kw)
    assert beam_search(compiled, src, **kw) == beam_search(model, src, **kw)
    classifier = build_model(TransformerConfig(vocab_size=V, kind="classifier", d_model=32))
    with pytest.raises(TypeError, match="decoding needs a Seq2SeqTransformer"):
        greedy_decode(classifier, src, **kw)


def test_max_length_is_capped_by_the_model():
    model, src = tiny_model(0, max_length=6), sources(0)[:, :6]
    out = greedy_decode(model, src, bos_id=BOS, eos_id=EOS, max_length=50)
    check_outputs(out, 6, 6)
    assert max(map(len, out)) == 6  # this random model runs to the cap on some source
    out = beam_search(model, src, bos_id=BOS, eos_id=EOS, beam_size=2, max_length=50)
    check_outputs(out, 6, 6)


def test_decoding_under_bf16_autocast_runs():
    model, src = tiny_model(0, positional="rotary"), sources(0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        check_outputs(greedy_decode(model, src, bos_id=BOS, eos_id=EOS, max_length=6), 6, 6)
        check_outputs(beam_search(model, src, bos_id=BOS, eos_id=EOS, max_length=6), 6, 6)


@pytest.mark.parametrize("search", ["greedy", "beam"])
def test_search_stops_as_soon_as_everything_has_ended(monkeypatch, search):
    model, src = tiny_model(0), sources(0)
    calls = []
    original = model.decode

    def eos_first(*args, **kwargs):
        calls.append(1)
        logits = original(*args, **kwargs)
        logits[..., EOS] += 100.0
        return logits

    monkeypatch.setattr(model, "decode", eos_first)
    if search == "greedy":
        out = greedy_decode(model, src, bos_id=BOS, eos_id=EOS, max_length=20)
    else:
        out = beam_search(model, src, bos_id=BOS, eos_id=EOS, beam_size=4, max_length=20)
    assert out == [[]] * len(src)
    # One step: the finished hypothesis outscores every live beam at once.
    assert len(calls) == 1


# --- beam search on a scripted distribution -----------------------------------------------------

A, B_ = 3, 4


def scripted_probs(prefix: list[int]) -> dict[int, float]:
    """Next-token distribution after bos + prefix.

    Greedy follows the likelier first token: a (.6), a (.613), eos (.9): p = .331, 3 tokens
    with eos. The likelier hypothesis is b (.4), eos (.832): p = .333, 2 tokens; only a beam
    of at least 2 finds it.
    """
    table = {
        (): {A: 0.6, B_: 0.4},
        (A,): {A: 0.613, B_: 0.2, EOS: 0.187},
        (B_,): {EOS: 0.832, A: 0.084, B_: 0.084},
        (A, A): {EOS: 0.9, A: 0.05, B_: 0.05},
    }
    return table.get(tuple(prefix), {EOS: 1.0})


def scripted_decode(tgt_ids, memory, memory_mask, cache=None):
    assert cache is None
    logits = torch.full((tgt_ids.size(0), tgt_ids.size(1), V), -1e9)  # (N,t,V)
    for i, row in enumerate(tgt_ids.tolist()):
        for token, p in scripted_probs(row[1:]).items():
            logits[i, -1, token] = math.log(p)
    return logits


def test_beam_finds_the_likelier_hypothesis_and_length_penalty_decides(monkeypatch):
    model = tiny_model(0)
    monkeypatch.setattr(model, "decode", scripted_decode)
    src = sources(0)[:2]
    kw = dict(bos_id=BOS, eos_id=EOS, max_length=5, use_cache=False)
    assert greedy_decode(model, src, **kw) == [[A, A]] * 2
    assert beam_search(model, src, beam_size=1, length_penalty=0.0, **kw) == [[A, A]] * 2
    assert beam_search(model, src, beam_size=2, length_penalty=0.0, **kw) == [[B_]] * 2
    assert beam_search(model, src, beam_size=3, length_penalty=0.0, **kw) == [[B_]] * 2
    # GNMT penalty ((5 + len) / 6) ** alpha, len counting eos: log(.333) / (7/6) is below
    # log(.331) / (8/6), so with alpha = 1 the longer hypothesis wins.
    assert beam_search(model, src, beam_size=2, length_penalty=1.0, **kw) == [[A, A]] * 2
    short = length_normalised(torch.tensor(math.log(0.4 * 0.832)), 2, 1.0)
    long = length_normalised(torch.tensor(math.log(0.6 * 0.613 * 0.9)), 3, 1.0)
    assert long > short
    assert short.item() == pytest.approx(math.log(0.4 * 0.832) / (7 / 6))


# --- decoding a trained model -----------------------------------------------------------------


def test_trained_model_decodes_its_training_targets():
    """After overfitting "reverse the source", greedy and beam reproduce the targets."""
    torch.manual_seed(0)
    model = tiny_model(0, positional="rotary", dropout=0.0, max_length=16)
    g = torch.Generator().manual_seed(5)
    lengths = [5, 3, 4, 5, 2, 4]
    src = torch.randint(3, V, (len(lengths), 5), generator=g)
    src[torch.arange(5)[None, :] >= torch.tensor(lengths)[:, None]] = PAD
    targets = [src[i, :n].flip(0).tolist() for i, n in enumerate(lengths)]
    tgt = torch.full((len(lengths), 6), PAD)
    for i, t in enumerate(targets):
        tgt[i, : len(t) + 1] = torch.tensor(t + [EOS])
    tgt_in = torch.cat((torch.full((len(lengths), 1), BOS), tgt[:, :-1]), dim=1)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(150):
        opt.zero_grad()
        loss = F.cross_entropy(model(src, tgt_in).reshape(-1, V), tgt.reshape(-1), ignore_index=PAD)
        loss.backward()
        opt.step()
    assert loss.item() < 0.05
    kw = dict(bos_id=BOS, eos_id=EOS, max_length=10)
    assert greedy_decode(model, src, **kw) == targets
    assert beam_search(model, src, beam_size=4, **kw) == targets
    assert beam_search(model, src, beam_size=4, use_cache=False, **kw) == targets
