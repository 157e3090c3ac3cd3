"""The models: shapes, config, parameter counts, padding invariance and overfitting a batch."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from tfcli.errors import ConfigError, UserError
from tfcli.model import (
    Seq2SeqTransformer,
    TransformerClassifier,
    TransformerConfig,
    TransformerSpanExtractor,
    build_model,
    count_parameters,
)

pytestmark = pytest.mark.timeout(300)

V, PAD = 16, 0
TINY = dict(vocab_size=V, d_model=32, heads=4, encoder_layers=2, decoder_layers=2, ffn_dim=64)


@pytest.fixture(autouse=True)
def _seed():
    # One thread: these tensors are tiny, so threads only add overhead and contention.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


def tiny(**overrides) -> TransformerConfig:
    return TransformerConfig(**{**TINY, **overrides})


def padded_ids(lengths, T=None, low=3, generator=None):
    """(B,T) random ids in [low, V) with right padding to T."""
    T = T or max(lengths)
    ids = torch.randint(low, V, (len(lengths), T), generator=generator)
    ids[torch.arange(T)[None, :] >= torch.tensor(lengths)[:, None]] = PAD
    return ids


# --- building and config ---------------------------------------------------------------------


def test_build_model_picks_the_kind_and_shapes_are_right():
    src, tgt = padded_ids([7, 5, 2]), padded_ids([4, 4, 3])
    s2s = build_model(tiny())
    assert isinstance(s2s, Seq2SeqTransformer)
    assert s2s(src, tgt).shape == (3, 4, V)
    assert s2s.encode(src).shape == (3, 7, 32)

    clf = build_model(tiny(kind="classifier", num_classes=5))
    assert isinstance(clf, TransformerClassifier)
    assert clf(src).shape == (3, 5)

    span = build_model(tiny(kind="span"))
    assert isinstance(span, TransformerSpanExtractor)
    start, end = span(src)
    assert start.shape == end.shape == (3, 7)
    pad = src == PAD
    assert (start[pad] == torch.finfo(start.dtype).min).all() and (end[pad] < -1e30).all()
    assert torch.isfinite(start[~pad]).all()


def test_config_round_trips_and_ignores_unknown_keys():
    config = tiny(positional="rotary", norm="post", pooling="mean")
    assert TransformerConfig.from_dict({**config.to_dict(), "lr": 1e-3}) == config


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(heads=3), "heads must divide d_model, but heads=3 does not divide d_model=32"),
        (dict(positional="alibi"), "model.positional must be one of"),
        (dict(norm="sandwich"), "model.norm must be one of"),
        (dict(d_model=36, heads=12, positional="rotary"), "even head size"),
        (dict(dropout=1.0), "model.dropout must be in [0, 1)"),
        (dict(kind="classifier", num_classes=1), "num_classes must be >= 2"),
        (dict(pad_id=16), "pad_id must be a token id below vocab_size"),
    ],
)
def test_bad_config_is_a_user_error(overrides, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace(")", r"\)")) as err:
        tiny(**overrides)
    assert isinstance(err.value, UserError)


def test_sequence_longer_than_max_length_is_refused():
    model = build_model(tiny(max_length=8))
    with pytest.raises(ValueError, match="sequence length must be <= max_length"):
        model(padded_ids([9]), padded_ids([3]))


def test_model_package_imports_no_ray_mlflow_typer_rich_pydantic():
    code = (
        "import sys, tfcli.model, tfcli.model.decode\n"
        "bad = [m for m in ('ray', 'mlflow', 'typer', 'rich', 'pydantic') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- parameter counts ------------------------------------------------------------------------


def _expected_seq2seq_parameters(c: TransformerConfig) -> int:
    C, F_, Vc = c.d_model, c.ffn_dim, c.vocab_size
    linear = lambda i, o: i * o + o  # noqa: E731
    ln = 2 * C
    ffn = linear(C, F_) + linear(F_, C)
    enc_layer = linear(C, 3 * C) + linear(C, C) + ffn + 2 * ln
    dec_layer = linear(C, 3 * C) + linear(C, C) + linear(C, C) + linear(C, 2 * C)
    dec_layer += linear(C, C) + ffn + 3 * ln
    n = c.encoder_layers * enc_layer + c.decoder_layers * dec_layer
    n += 2 * ln if c.norm == "pre" else 0  # final norms of the pre-norm stacks
    n += 2 * c.max_length * C if c.positional == "learned" else 0  # encoder and decoder tables
    n += Vc * C if c.tie_embeddings else 3 * Vc * C
    return n


@pytest.mark.parametrize("positional", ["sinusoidal", "learned", "rotary"])
@pytest.mark.parametrize("norm", ["pre", "post"])
@pytest.mark.parametrize("tie", [True, False])
def test_count_parameters_matches_the_architecture(positional, norm, tie):
    config = tiny(positional=positional, norm=norm, tie_embeddings=tie, max_length=20)
    model = build_model(config)
    n = count_parameters(model)
    assert isinstance(n, int)
    assert n == sum(p.numel() for p in model.parameters())
    assert n == sum(t.numel() for t in model.state_dict().values())  # no aliased entries
    assert n == _expected_seq2seq_parameters(config)


def test_tied_embeddings_reduce_the_count_by_two_matrices():
    tied = count_parameters(build_model(tiny(tie_embeddings=True)))
    untied = count_parameters(build_model(tiny(tie_embeddings=False)))
    assert untied - tied == 2 * V * 32


def test_encoder_only_parameter_counts():
    clf = build_model(tiny(kind="classifier", num_classes=3))
    span = build_model(tiny(kind="span"))
    assert count_parameters(clf) - count_parameters(span) == (32 * 3 + 3) - (32 * 2 + 2)
    s2s = build_model(tiny(decoder_layers=1))
    assert count_parameters(clf) < count_parameters(s2s)


# --- padding invariance ----------------------------------------------------------------------


def _more_padding(ids, extra):
    return torch.cat((ids, torch.full((ids.size(0), extra), PAD)), dim=1)


@pytest.mark.parametrize("positional", ["sinusoidal", "learned", "rotary"])
@pytest.mark.parametrize("norm", ["pre", "post"])
def test_extra_source_padding_leaves_seq2seq_logits_unchanged(positional, norm):
    model = build_model(tiny(positional=positional, norm=norm)).eval()
    src, tgt = padded_ids([7, 4, 1]), padded_ids([5, 3, 5])
    with torch.no_grad():
        base = model(src, tgt)
        for extra in (1, 6):
            padded = model(_more_padding(src, extra), tgt)
            torch.testing.assert_close(padded, base, atol=1e-5, rtol=0)


@pytest.mark.parametrize("positional", ["sinusoidal", "learned", "rotary"])
@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_extra_padding_leaves_classifier_logits_unchanged(positional, pooling):
    model = build_model(tiny(kind="classifier", positional=positional, pooling=pooling)).eval()
    ids = padded_ids([7, 4, 1])
    with torch.no_grad():
        base = model(ids)
        for extra in (1, 6):
            torch.testing.assert_close(model(_more_padding(ids, extra)), base, atol=1e-5, rtol=0)


def test_extra_padding_leaves_span_logits_unchanged():
    model = build_model(tiny(kind="span", positional="rotary")).eval()
    ids = padded_ids([7, 4, 1])
    with torch.no_grad():
        start, end = model(ids)
        start2, end2 = model(_more_padding(ids, 5))
    real = ids != PAD
    torch.testing.assert_close(start2[:, :7][real], start[real], atol=1e-5, rtol=0)
    torch.testing.assert_close(end2[:, :7][real], end[real], atol=1e-5, rtol=0)


def test_dropout_is_on_in_training_and_off_in_eval():
    model = build_model(tiny(dropout=0.3, attention_dropout=0.3))
    src, tgt = padded_ids([6, 4]), padded_ids([5, 5])
    assert not torch.equal(model(src, tgt), model(src, tgt))
    model.eval()
    assert torch.equal(model(src, tgt), model(src, tgt))


@pytest.mark.parametrize("tie", [True, False])
def test_state_dict_round_trips_through_safetensors(tmp_path, tie):
    safetensors_torch = pytest.importorskip("safetensors.torch")
    model = build_model(tiny(tie_embeddings=tie, positional="learned")).eval()
    safetensors_torch.save_file(model.state_dict(), tmp_path / "model.safetensors")
    torch.manual_seed(123)
    restored = build_model(tiny(tie_embeddings=tie, positional="learned")).eval()
    restored.load_state_dict(safetensors_torch.load_file(tmp_path / "model.safetensors"))
    src, tgt = padded_ids([6, 3]), padded_ids([4, 2])
    assert torch.equal(restored(src, tgt), model(src, tgt))


def test_fused_and_reference_attention_give_the_same_model_output():
    from tfcli.model.attention import reference_attention

    model = build_model(tiny(positional="rotary")).eval()
    src, tgt = padded_ids([7, 4, 1]), padded_ids([5, 3, 5])
    with torch.no_grad():
        fused = model(src, tgt)
        with reference_attention():
            plain = model(src, tgt)
    torch.testing.assert_close(fused, plain, atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind", ["seq2seq", "classifier", "span"])
def test_bf16_autocast_forward_and_backward(kind):
    model = build_model(tiny(kind=kind, positional="rotary"))
    src, tgt = padded_ids([6, 3]), padded_ids([4, 4])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(src, tgt) if kind == "seq2seq" else model(src)
        loss = sum(o.float().clamp(min=-1e4).sum() for o in (out if kind == "span" else (out,)))
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


# --- overfitting a tiny batch ----------------------------------------------------------------


def _seq2seq_batch(g):
    """Reverse the source: needs attention to positions, so every positional is exercised."""
    lengths = [6, 5, 4, 6, 3, 5, 6, 4]
    src = padded_ids(lengths, generator=g)
    BOS, EOS = 1, 2
    tgt = torch.full((len(lengths), 7), PAD)
    for i, n in enumerate(lengths):
        tgt[i, :n] = src[i, :n].flip(0)
        tgt[i, n] = EOS
    tgt_in = torch.cat((torch.full((len(lengths), 1), BOS), tgt[:, :-1]), dim=1)
    return src, tgt_in, tgt


def _overfit(model, loss_fn, steps=80, lr=3e-3):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.eval()
    with torch.no_grad():
        initial = loss_fn().item()
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        final = loss_fn().item()
    return initial, final


SEQ2SEQ_VARIANTS = [
    dict(positional=p, norm=n) for p in ("sinusoidal", "learned", "rotary") for n in ("pre", "post")
] + [dict(tie_embeddings=False), dict(activation="gelu", positional="rotary", norm="post")]


@pytest.mark.parametrize(
    "variant", SEQ2SEQ_VARIANTS, ids=lambda v: "-".join(f"{k}={x}" for k, x in v.items())
)
def test_seq2seq_overfits_a_tiny_batch(variant):
    g = torch.Generator().manual_seed(1)
    src, tgt_in, tgt = _seq2seq_batch(g)
    model = build_model(tiny(**variant, dropout=0.1))

    def loss_fn():
        logits = model(src, tgt_in)
        return F.cross_entropy(logits.reshape(-1, V), tgt.reshape(-1), ignore_index=PAD)

    initial, final = _overfit(model, loss_fn)
    assert final < 0.15 * initial, (initial, final)


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_classifier_overfits_a_tiny_batch(pooling):
    g = torch.Generator().manual_seed(2)
    ids = padded_ids([8, 6, 7, 3, 8, 5, 8, 2, 6, 7, 4, 8], generator=g)
    labels = torch.randint(0, 3, (ids.size(0),), generator=g)
    model = build_model(tiny(kind="classifier", num_classes=3, pooling=pooling))
    initial, final = _overfit(model, lambda: F.cross_entropy(model(ids), labels))
    assert final < 0.15 * initial, (initial, final)


def test_span_head_overfits_a_tiny_batch():
    g = torch.Generator().manual_seed(3)
    lengths = [8, 6, 7, 3, 8, 5, 8, 4]
    ids = padded_ids(lengths, generator=g)
    starts = torch.tensor([int(torch.randint(0, n, (1,), generator=g)) for n in lengths])
    ends = torch.tensor(
        [int(torch.randint(s, n, (1,), generator=g)) for s, n in zip(starts.tolist(), lengths)]
    )
    model = build_model(tiny(kind="span"))

    def loss_fn():
        start, end = model(ids)
        return F.cross_entropy(start, starts) + F.cross_entropy(end, ends)

    initial, final = _overfit(model, loss_fn)
    assert final < 0.15 * initial, (initial, final)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_seq2seq_loss_over_real_targets_equals_full_logit_cross_entropy(smoothing):
    """forward(targets=...) skips pad positions but gives the loss and gradients of the
    full logits with ignore_index=pad."""
    model = build_model(tiny(kind="seq2seq", dropout=0.0))
    src, tgt_in = padded_ids([5, 3, 4]), padded_ids([4, 2, 3], low=3)
    tgt_out = padded_ids([4, 2, 3], low=3)
    loss = model(src, tgt_in, targets=tgt_out, label_smoothing=smoothing)
    grads = torch.autograd.grad(loss, list(model.parameters()))
    logits = model(src, tgt_in)
    reference = F.cross_entropy(
        logits.reshape(-1, V), tgt_out.reshape(-1), ignore_index=PAD, label_smoothing=smoothing, reduction="sum"
    )
    expected = torch.autograd.grad(reference, list(model.parameters()))
    assert torch.allclose(loss, reference, atol=1e-5)
    for got, want in zip(grads, expected):
        assert torch.allclose(got, want, atol=1e-5)
