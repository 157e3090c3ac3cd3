"""Training throughput: tfcli's training step against a plain torch.nn.Transformer loop.

Both sides train the same sizes (d_model 256, 3+3 layers, 4 heads, ffn 1024, tied embeddings,
pre-LN, learned positions, dropout 0.1, no attention dropout, a shared vocabulary of 8,000)
and time the whole training step: taking the next batch (collation included), forward, the
label-smoothed (0.1) cross-entropy, backward, gradient clipping at 1.0 and AdamW. The figure is
real (non-pad) source + target tokens per second; the two sides run interleaved, a few steps
each in turn, so that a noisy shared machine slows both alike.

Length modes (``--lengths``):

- ``uniform`` (the original mode): source and target lengths uniform in 5..60, independent.
  tfcli takes length-bucketed batches, the baseline randomly ordered batches of
  ``batch_tokens // 60`` examples (the same padded size). Goal: >= 2x.
- ``real``: lengths shaped like a real short-text corpus: log-normal source lengths with a
  median of 10 tokens, clipped to 5..128, target lengths correlated with them (the source
  length times a log-normal factor). **Both** sides take length-bucketed batches under the
  same padded-token budget (``len(batch) * max(src, tgt + 1) <= batch_tokens``), sorted by length
  with random tie-breaks and shuffled; the baseline's bucketing is written out here, as a user
  would write it. Goal: >= 1.3x.
- ``all``: both modes, one after the other, in one run.

The baseline is what a competent user writes: ``torch.nn.Transformer(norm_first=True,
batch_first=True)`` with tied embeddings and learned positions, key-padding masks for source
and target and a causal mask flagged ``tgt_is_causal``, examples tensorised once and padded
with ``pad_sequence`` per batch, ``F.cross_entropy(label_smoothing=0.1, ignore_index=pad)``,
``clip_grad_norm_`` and ``torch.optim.AdamW`` with its defaults. Its attention dropout is set to
0 like tfcli's, so that both compute the same function.

tfcli's side runs :class:`tfcli.train.step.StepRunner`, the code every trial runs, on batches
from :class:`tfcli.data.prefetch.Prefetcher` (collated in a background thread), bucketed as a
trial buckets: equal-length examples ordered by (source, target) length before the random
tie-break, so that each side of a batch is padded little (the budget is the same).
``--precision`` sets tfcli's precision (``auto`` resolves as a study would:
bf16 autocast on a CPU with native bf16, else fp32); the baseline runs in fp32 on the CPU and
under bf16 autocast on CUDA. ``--compare-precision`` adds tfcli in fp32 and in bf16, and the
baseline under CPU bf16 autocast, as more interleaved contenders: the bf16 row of
docs/benchmarks.md and the comparison at equal precision.

Run: python benchmarks/throughput.py [--lengths uniform|real|all] [--steps 30] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import math
import random
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pad_sequence

from tfcli.data.batching import bucket_batches, collate_seq2seq, random_batch_indices
from tfcli.data.encode import EncodedSeq2Seq
from tfcli.data.prefetch import Prefetcher
from tfcli.model.transformer import TransformerConfig, build_model, count_parameters
from tfcli.train.device import Hardware, choose_placement
from tfcli.train.step import StepRunner, make_optimizer
from tfcli.train.task_runtime import seq2seq_loss

VOCAB, PAD, BOS, EOS = 8000, 0, 2, 3
D_MODEL, HEADS, LAYERS, FFN, MAX_POSITIONS = 256, 4, 3, 1024, 256
LABEL_SMOOTHING, GRAD_CLIP, LR = 0.1, 1.0, 1e-4
UNIFORM_MIN, UNIFORM_MAX = 5, 60
REAL_MEDIAN, REAL_SIGMA, REAL_MIN, REAL_MAX = 10.0, 0.6, 5, 128
GOALS = {"uniform": 2.0, "real": 1.3}


# ------------------------------------------------------------------------------------- data
def uniform_lengths(n: int, rng: random.Random) -> list[tuple[int, int]]:
    """(source, target) lengths, each uniform in 5..60 and independent (the original mode)."""
    return [(rng.randint(UNIFORM_MIN, UNIFORM_MAX), rng.randint(UNIFORM_MIN, UNIFORM_MAX) - 1) for _ in range(n)]


def real_lengths(n: int, rng: random.Random) -> list[tuple[int, int]]:
    """(source, target) lengths shaped like short real sentences and their translations.

    Source: log-normal, median 10 tokens, sigma 0.6 (about 12% longer than 20 tokens),
    clipped to 5..128. Target: the source length times a log-normal factor (median 1.05,
    sigma 0.2), so that long sources have long targets as in a real parallel corpus.
    """
    out = []
    for _ in range(n):
        src = rng.lognormvariate(math.log(REAL_MEDIAN), REAL_SIGMA)
        tgt = src * rng.lognormvariate(math.log(1.05), 0.2)
        out.append(tuple(min(REAL_MAX, max(REAL_MIN, round(x))) for x in (src, tgt)))
    return out


def synthetic(pairs: list[tuple[int, int]], seed: int) -> EncodedSeq2Seq:
    """Random token ids with the given (source, target) lengths."""
    rng = random.Random(seed)
    src = [[rng.randrange(6, VOCAB) for _ in range(s)] for s, _ in pairs]
    tgt = [[rng.randrange(6, VOCAB) for _ in range(t)] for _, t in pairs]
    longest = max(max(s, t + 1) for s, t in pairs)
    return EncodedSeq2Seq(src=src, tgt=tgt, examples=[], max_source_length=longest, max_target_length=longest)


def endless(order: Callable[[int], list[list[int]]]) -> Iterator[list[int]]:
    """The index batches of epoch 0, 1, 2, ... (``order(epoch)`` gives an epoch's batches)."""
    epoch = 0
    while True:
        yield from order(epoch)
        epoch += 1


# ----------------------------------------------------------------------------- the baseline
class PlainTransformer(torch.nn.Module):
    """What a user writes with torch.nn.Transformer: tied embeddings, learned positions."""

    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(VOCAB, D_MODEL, padding_idx=PAD)
        self.positions = torch.nn.Embedding(MAX_POSITIONS, D_MODEL)
        self.core = torch.nn.Transformer(
            d_model=D_MODEL, nhead=HEADS, num_encoder_layers=LAYERS, num_decoder_layers=LAYERS,
            dim_feedforward=FFN, dropout=0.1, batch_first=True, norm_first=True,
        )
        for module in self.core.modules():  # same function as tfcli's: no attention dropout
            if isinstance(module, torch.nn.MultiheadAttention):
                module.dropout = 0.0

    def embed_positions(self, ids):
        positions = torch.arange(ids.shape[1], device=ids.device)
        return self.embed(ids) * math.sqrt(D_MODEL) + self.positions(positions)

    def forward(self, src, tgt_in):
        T = tgt_in.shape[1]
        causal = torch.nn.Transformer.generate_square_subsequent_mask(T, device=src.device)
        src_pad, tgt_pad = src == PAD, tgt_in == PAD
        hidden = self.core(
            self.embed_positions(src), self.embed_positions(tgt_in), tgt_mask=causal, tgt_is_causal=True,
            src_key_padding_mask=src_pad, tgt_key_padding_mask=tgt_pad, memory_key_padding_mask=src_pad,
        )
        return F.linear(hidden, self.embed.weight)  # tied output projection


def plain_bucketed(pairs: list[tuple[int, int]], budget: int, epoch: int) -> list[list[int]]:
    """A user's length bucketing: sort by length (random tie-breaks), cut at the budget, shuffle."""
    rng = random.Random(1000 + epoch)
    size = [max(s, t + 1) for s, t in pairs]
    ties = [rng.random() for _ in pairs]
    order = sorted(range(len(pairs)), key=lambda i: (size[i], ties[i]))
    batches, current, longest = [], [], 0
    for i in order:
        if current and max(longest, size[i]) * (len(current) + 1) > budget:
            batches.append(current)
            current, longest = [], 0
        current.append(i)
        longest = max(longest, size[i])
    batches.append(current)
    rng.shuffle(batches)
    return batches


@dataclass
class PlainBatch:
    src: torch.Tensor
    tgt_in: torch.Tensor
    tgt_out: torch.Tensor
    real_tokens: int


class PlainCollate:
    """Examples tensorised once; a batch is three ``pad_sequence`` calls."""

    def __init__(self, data: EncodedSeq2Seq):
        self.src = [torch.tensor(s) for s in data.src]
        self.tgt_in = [torch.tensor([BOS] + t) for t in data.tgt]
        self.tgt_out = [torch.tensor(t + [EOS]) for t in data.tgt]

    def __call__(self, indices: list[int]) -> PlainBatch:
        def pad(rows):
            return pad_sequence([rows[i] for i in indices], batch_first=True, padding_value=PAD)

        src, tgt_in, tgt_out = pad(self.src), pad(self.tgt_in), pad(self.tgt_out)
        real = sum(len(self.src[i]) + len(self.tgt_out[i]) for i in indices)
        return PlainBatch(src, tgt_in, tgt_out, real)


class PlainLoop:
    """The baseline's training step, written as the loop a user writes."""

    def __init__(self, data: EncodedSeq2Seq, order: Iterator[list[int]], device: str, bf16: bool | None = None):
        self.bf16 = device == "cuda" if bf16 is None else bf16
        self.model = PlainTransformer().to(device)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=LR)
        self.collate, self.order, self.device = PlainCollate(data), order, device

    def step(self) -> int:
        batch = self.collate(next(self.order))
        src, tgt_in, tgt_out = (t.to(self.device) for t in (batch.src, batch.tgt_in, batch.tgt_out))
        self.model.train()
        with torch.autocast(self.device, dtype=torch.bfloat16, enabled=self.bf16):
            logits = self.model(src, tgt_in)
        loss = F.cross_entropy(
            logits.float().reshape(-1, VOCAB), tgt_out.reshape(-1), ignore_index=PAD, label_smoothing=LABEL_SMOOTHING
        )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), GRAD_CLIP)
        self.optimizer.step()
        return batch.real_tokens


# --------------------------------------------------------------------------------- tfcli's side
def tfcli_config() -> TransformerConfig:
    return TransformerConfig(
        vocab_size=VOCAB, kind="seq2seq", d_model=D_MODEL, heads=HEADS, encoder_layers=LAYERS, decoder_layers=LAYERS,
        ffn_dim=FFN, dropout=0.1, attention_dropout=0.0, positional="learned", norm="pre", tie_embeddings=True,
        max_length=MAX_POSITIONS, pad_id=PAD,
    )


class TfcliLoop:
    """tfcli's training step: the trial's StepRunner on prefetched, bucketed batches."""

    def __init__(self, data: EncodedSeq2Seq, budget: int, device: str, precision: str, compile: bool = False):
        self.placement = choose_placement(device, precision, Hardware.detect(), d_model=D_MODEL)
        self.model = build_model(tfcli_config()).to(self.placement.device)
        if compile:  # what train.compile does (tfcli.train.loop.Trainer)
            self.model = torch.compile(self.model, dynamic=True)
        optimizer = make_optimizer(self.model, lr=LR, weight_decay=0.01, betas=(0.9, 0.98), device=self.placement.device)
        self.runner = StepRunner(
            self.model, optimizer, self.placement,
            loss_fn=lambda model, batch: seq2seq_loss(model, batch, LABEL_SMOOTHING),
            n_targets=lambda batch: batch.n_target_tokens,
            n_tokens=lambda batch: batch.n_source_tokens + batch.n_target_tokens,
            grad_clip=GRAD_CLIP,
        )
        lengths, sides = data.lengths, data.side_lengths
        order = endless(lambda epoch: bucket_batches(lengths, budget, shuffle=True, seed=epoch, within=sides))
        self.batches = Prefetcher(collate_seq2seq(data, indices) for indices in order)

    def step(self) -> int:
        batch = next(self.batches).to(self.placement.device)
        return self.runner([batch]).tokens

    def close(self) -> None:
        self.batches.close()


# ------------------------------------------------------------------------------- measuring
def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def interleaved(contenders: dict, device: str, steps: int, warmup: int, chunk: int) -> dict[str, tuple[float, float]]:
    """{name: (real tokens/s, seconds a step)}: ``chunk`` steps of each contender in turn."""
    for loop in contenders.values():
        for _ in range(warmup):
            loop.step()
    seconds = {name: 0.0 for name in contenders}
    tokens = {name: 0 for name in contenders}
    done = 0
    while done < steps:
        n = min(chunk, steps - done)
        for name, loop in contenders.items():
            sync(device)
            start = time.perf_counter()
            for _ in range(n):
                tokens[name] += loop.step()
            sync(device)
            seconds[name] += time.perf_counter() - start
        done += n
    return {name: (tokens[name] / seconds[name], seconds[name] / steps) for name in contenders}


def padding_of(data: EncodedSeq2Seq, batches: list[list[int]]) -> float:
    """Share of padded positions (source and target) over the given batches."""
    real = padded = 0
    for b in batches:
        s, t = max(len(data.src[i]) for i in b), max(len(data.tgt[i]) + 1 for i in b)
        real += sum(len(data.src[i]) + len(data.tgt[i]) + 1 for i in b)
        padded += len(b) * (s + t)
    return 1 - real / padded


def run_mode(mode: str, args) -> float:
    rng = random.Random(0)
    pairs = (real_lengths if mode == "real" else uniform_lengths)(args.examples, rng)
    data = synthetic(pairs, seed=1)
    budget = args.batch_tokens or (3000 if mode == "real" else 4096)
    if mode == "real":
        plain_order = endless(lambda epoch: plain_bucketed(pairs, budget, epoch))
        baseline = "bucketed"
    else:
        per_batch = max(1, budget // UNIFORM_MAX)
        plain_order = endless(lambda epoch: random_batch_indices(len(pairs), per_batch, seed=1000 + epoch))
        baseline = f"random batches of {per_batch}"
    torch.manual_seed(0)
    contenders = {"tfcli": TfcliLoop(data, budget, args.device, args.precision)}
    if args.compile:
        contenders["tfcli compiled"] = TfcliLoop(data, budget, args.device, args.precision, compile=True)
    if args.compare_precision:
        contenders["tfcli fp32"] = TfcliLoop(data, budget, args.device, "fp32")
        contenders["tfcli bf16"] = TfcliLoop(data, budget, args.device, "bf16")
    contenders["torch.nn.Transformer"] = PlainLoop(data, plain_order, args.device)
    if args.compare_precision and args.device == "cpu":
        contenders["torch.nn.Transformer bf16"] = PlainLoop(data, plain_order, args.device, bf16=True)
    sample = 40
    pad_ours = padding_of(data, bucket_batches(data.lengths, budget, shuffle=True, seed=0, within=data.side_lengths)[:sample])
    pad_plain = padding_of(data, [next(plain_order) for _ in range(sample)])
    src_sorted = sorted(s for s, _ in pairs)
    print(f"\n== --lengths {mode}: {len(pairs)} pairs, source length median {src_sorted[len(pairs) // 2]}, "
          f"max {src_sorted[-1]}; budget {budget} padded tokens; baseline {baseline}")
    print(f"tfcli precision {contenders['tfcli'].placement.precision} ({contenders['tfcli'].placement.reason}); "
          f"parameters tfcli {count_parameters(contenders['tfcli'].model):,}, "
          f"torch.nn.Transformer {count_parameters(contenders['torch.nn.Transformer'].model):,}")
    print(f"padding: tfcli {pad_ours:.1%}; baseline {pad_plain:.1%}")
    results = interleaved(contenders, args.device, args.steps, args.warmup, args.chunk)
    for loop in contenders.values():
        getattr(loop, "close", lambda: None)()
    plain_tps = results["torch.nn.Transformer"][0]
    for name, (tps, step_s) in results.items():
        print(f"{name:22s} real {tps:9,.0f} tokens/s  {step_s * 1000:7.1f} ms a step  {tps / plain_tps:.2f}x")
    if args.compare_precision:
        ratio = results["tfcli fp32"][1] / results["tfcli bf16"][1]
        print(f"bf16 against fp32 (tfcli step time): {ratio:.2f}x faster")
    ratio = results["tfcli"][0] / plain_tps
    print(f"ratio (real tokens/s, --lengths {mode}): {ratio:.2f}x (goal >= {GOALS[mode]}x)")
    if args.device == "cuda":
        report_cuda(results, contenders, args.peak_tflops)
    return ratio


def report_cuda(results: dict, contenders: dict, peak_tflops: float) -> None:
    """Model FLOP/s, MFU against ``peak_tflops`` and peak memory, per tfcli contender."""
    for name in (n for n in results if n.startswith("tfcli")):
        achieved = results[name][0] * 6 * count_parameters(contenders[name].model)
        line = f"{name}: model FLOP/s (6 x parameters x real tokens/s, attention not counted) {achieved / 1e12:.2f} TFLOP/s"
        if peak_tflops:
            line += f", MFU {achieved / (peak_tflops * 1e12):.1%} of {peak_tflops:g} TFLOP/s"
        print(line)
    print(f"peak CUDA memory allocated (all contenders): {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")


def set_sizes(d_model: int, heads: int, layers: int, ffn: int) -> None:
    """Both sides' model sizes (the defaults are the issue's d_model 256, 3+3 layers)."""
    global D_MODEL, HEADS, LAYERS, FFN
    D_MODEL, HEADS, LAYERS, FFN = d_model, heads, layers, ffn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", choices=["uniform", "real", "all"], default="uniform")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per contender")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=5, help="steps a contender runs before the next takes its turn")
    parser.add_argument("--batch-tokens", type=int, default=0, help="padded-token budget (default 3000 real, 4096 uniform)")
    parser.add_argument("--examples", type=int, default=20000)
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    parser.add_argument("--compare-precision", action="store_true", help="also time tfcli in fp32 and in bf16")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--peak-tflops", type=float, default=0.0, help="the device's peak bf16 TFLOP/s, for MFU (H100 SXM: 989)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads on the CPU (0: torch's default)")
    parser.add_argument("--compile", action="store_true", help="also time tfcli under torch.compile")
    parser.add_argument("--d-model", type=int, default=D_MODEL)
    parser.add_argument("--heads", type=int, default=HEADS)
    parser.add_argument("--layers", type=int, default=LAYERS, help="encoder and decoder layers each")
    parser.add_argument("--ffn", type=int, default=0, help="feed-forward width (default 4 x d_model)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    set_sizes(args.d_model, args.heads, args.layers, args.ffn or 4 * args.d_model)
    print(f"sizes: d_model {D_MODEL}, {LAYERS}+{LAYERS} layers, {HEADS} heads, ffn {FFN}; vocabulary {VOCAB}")
    print(f"device {args.device}; threads {torch.get_num_threads()}; torch {torch.__version__}; "
          f"{args.steps} timed steps each after {args.warmup} warm-up steps, interleaved {args.chunk} at a time")
    for mode in (["uniform", "real"] if args.lengths == "all" else [args.lengths]):
        run_mode(mode, args)


if __name__ == "__main__":
    main()
