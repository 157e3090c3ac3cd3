"""Evaluation decoding: tfcli's cached greedy (and beam 4) against a plain re-run-the-decoder loop.

Both sides decode the same real-shaped validation set (``throughput.real_lengths``: median 10
tokens, clipped to 5..128), in the same batches (sorted by source length, 64 sentences, as
``eval.batch_size``), with the same model sizes as ``benchmarks/throughput.py`` (d_model 256,
3+3 layers, 4 heads, ffn 1024, tied embeddings, learned positions) and the same length limit
per batch (1.3 x its longest source + 5, at most 128):

- tfcli: :func:`tfcli.model.decode.greedy_decode` (the encoder once, a key/value cache, one new
  token through the decoder per step, stopping when every sentence has ended) under the
  precision ``auto`` resolves to, and :func:`tfcli.model.decode.beam_search` with 4 beams;
- baseline: ``torch.nn.Transformer`` greedy as a user writes it: the encoder once, then at
  every step the whole decoder over the whole prefix (no cache), stopping when every sentence
  has produced eos.

The weights are untrained, so neither side stops early at eos: both decode up to the length
limit, the worst case of a real evaluation. The contenders take turns batch by batch, so a
noisy shared machine slows them alike. Goal: tfcli greedy >= 3x the baseline in sentences/s.
That cached greedy gives exactly the uncached reference's outputs is a test
(``tests/model/test_model_decode.py::test_cached_greedy_equals_uncached``).

Run: python benchmarks/decode.py [--sentences 1200] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import random
import time

import torch

from throughput import BOS, EOS, PAD, PlainTransformer, real_lengths, synthetic, tfcli_config
from tfcli.model.decode import beam_search, greedy_decode
from tfcli.model.transformer import build_model
from tfcli.train.device import Hardware, choose_placement

BATCH = 64


@torch.no_grad()
def plain_greedy(model: PlainTransformer, src: torch.Tensor, max_length: int) -> list[list[int]]:
    """Greedy decoding without a cache: the decoder re-runs over the whole prefix every step."""
    model.eval()
    src_pad = src == PAD
    memory = model.core.encoder(model.embed_positions(src), src_key_padding_mask=src_pad)
    tokens = torch.full((src.shape[0], 1), BOS, dtype=torch.long, device=src.device)
    finished = torch.zeros(src.shape[0], dtype=torch.bool, device=src.device)
    for _ in range(max_length):
        T = tokens.shape[1]
        causal = torch.nn.Transformer.generate_square_subsequent_mask(T, device=src.device)
        hidden = model.core.decoder(
            model.embed_positions(tokens), memory, tgt_mask=causal, tgt_is_causal=True, memory_key_padding_mask=src_pad
        )
        logits = torch.nn.functional.linear(hidden[:, -1], model.embed.weight)
        logits[:, [PAD, BOS]] = float("-inf")
        next_token = logits.argmax(-1).masked_fill(finished, PAD)
        tokens = torch.cat((tokens, next_token[:, None]), dim=1)
        finished |= next_token == EOS
        if finished.all():
            break
    return [_cut(row) for row in tokens[:, 1:].tolist()]


def _cut(row: list[int]) -> list[int]:
    """A generated row up to its first eos or pad, as tfcli's decoders return it."""
    for i, token in enumerate(row):
        if token in (EOS, PAD):
            return row[:i]
    return row


def batches_of(data, device: str) -> list[tuple[torch.Tensor, int]]:
    """(source ids, length limit) per batch of 64 sentences sorted by source length."""
    order = sorted(range(len(data.src)), key=lambda i: len(data.src[i]))
    out = []
    for start in range(0, len(order), BATCH):
        rows = [data.src[i] for i in order[start : start + BATCH]]
        width = max(len(r) for r in rows)
        src = torch.tensor([r + [PAD] * (width - len(r)) for r in rows], device=device)
        out.append((src, min(128, int(1.3 * width) + 5)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, default=1200)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    parser.add_argument("--no-beam", action="store_true", help="skip the beam-4 contender")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    data = synthetic(real_lengths(args.sentences, random.Random(7)), seed=8)
    batches = batches_of(data, args.device)
    torch.manual_seed(0)
    placement = choose_placement(args.device, args.precision, Hardware.detect(), d_model=tfcli_config().d_model)
    ours = build_model(tfcli_config()).to(args.device).eval()
    plain = PlainTransformer().to(args.device).eval()
    contenders = {
        "tfcli greedy": lambda src, n: greedy_decode(ours, src, bos_id=BOS, eos_id=EOS, max_length=n),
        "torch.nn.Transformer greedy": lambda src, n: plain_greedy(plain, src, n),
    }
    if not args.no_beam:
        contenders["tfcli beam 4"] = lambda src, n: beam_search(ours, src, bos_id=BOS, eos_id=EOS, beam_size=4, max_length=n)
    autocast = {"tfcli greedy": placement.autocast, "tfcli beam 4": placement.autocast}
    print(f"device {args.device}; threads {torch.get_num_threads()}; {args.sentences} sentences in {len(batches)} batches "
          f"of {BATCH}; tfcli precision {placement.precision} ({placement.reason}); baseline fp32")
    seconds = {name: 0.0 for name in contenders}
    generated = {name: 0 for name in contenders}
    for src, limit in batches:
        for name, decode in contenders.items():
            context = autocast.get(name)
            if args.device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            if context is None:
                outputs = decode(src, limit)
            else:
                with context():
                    outputs = decode(src, limit)
            if args.device == "cuda":
                torch.cuda.synchronize()
            seconds[name] += time.perf_counter() - start
            generated[name] += sum(len(o) for o in outputs)
    base = args.sentences / seconds["torch.nn.Transformer greedy"]
    for name in contenders:
        rate = args.sentences / seconds[name]
        print(f"{name:28s} {rate:8.1f} sentences/s  {seconds[name]:7.1f} s  {generated[name]:,} tokens  {rate / base:.2f}x")
    ratio = seconds["torch.nn.Transformer greedy"] / seconds["tfcli greedy"]
    print(f"ratio (sentences/s, tfcli greedy / plain loop): {ratio:.2f}x (goal >= 3x)")


if __name__ == "__main__":
    main()
