"""Training throughput: tfcli's model with bucketed batches vs a plain torch.nn.Transformer loop.

Both train the same sizes (d_model 256, 3+3 layers, 4 heads, ffn 1024, shared vocabulary) on
the same synthetic data, whose source and target lengths vary between 5 and 60 tokens:

- tfcli: ``tfcli.model`` (fused SDPA attention) on length-bucketed batches of at most
  ``--batch-tokens`` padded tokens (``tfcli.data.batching.bucket_batches``);
- baseline: ``torch.nn.Transformer`` with embeddings and an output layer, on randomly ordered
  batches of ``batch_tokens // 60`` examples padded to their longest member (the same padded
  tokens per batch, so the same memory).

The figure is real (non-pad) source + target tokens per second of training (forward, backward,
AdamW step). Goal: tfcli >= 1.5x the baseline. With ``--device cuda`` both run under bf16
autocast and the script also prints model FLOPs utilisation.

Run: python benchmarks/throughput.py [--steps 30] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import math
import random
import time

import torch
import torch.nn.functional as F

from tfcli.data.batching import bucket_batches, collate_seq2seq, random_batch_indices
from tfcli.data.encode import EncodedSeq2Seq
from tfcli.model.transformer import TransformerConfig, build_model, count_parameters

VOCAB, PAD, BOS, EOS = 8000, 0, 2, 3
D_MODEL, HEADS, LAYERS, FFN = 256, 4, 3, 1024
MIN_LEN, MAX_LEN = 5, 60


def synthetic(n: int, seed: int) -> EncodedSeq2Seq:
    rng = random.Random(seed)
    src, tgt = [], []
    for _ in range(n):
        src.append([rng.randrange(6, VOCAB) for _ in range(rng.randint(MIN_LEN, MAX_LEN))])
        tgt.append([rng.randrange(6, VOCAB) for _ in range(rng.randint(MIN_LEN, MAX_LEN) - 1)])
    return EncodedSeq2Seq(src=src, tgt=tgt, examples=[], max_source_length=MAX_LEN, max_target_length=MAX_LEN)


class PlainTransformer(torch.nn.Module):
    """What a user writes with torch.nn.Transformer: embeddings, positions, output layer."""

    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(VOCAB, D_MODEL, padding_idx=PAD)
        self.positions = torch.nn.Embedding(256, D_MODEL)
        self.core = torch.nn.Transformer(
            d_model=D_MODEL, nhead=HEADS, num_encoder_layers=LAYERS, num_decoder_layers=LAYERS,
            dim_feedforward=FFN, dropout=0.1, batch_first=True,
        )
        self.out = torch.nn.Linear(D_MODEL, VOCAB)

    def forward(self, src, tgt_in):
        def embed(ids):
            positions = torch.arange(ids.shape[1], device=ids.device)
            return self.embed(ids) * math.sqrt(D_MODEL) + self.positions(positions)

        causal = self.core.generate_square_subsequent_mask(tgt_in.shape[1], device=src.device)
        hidden = self.core(
            embed(src), embed(tgt_in), tgt_mask=causal,
            src_key_padding_mask=src == PAD, tgt_key_padding_mask=tgt_in == PAD, memory_key_padding_mask=src == PAD,
        )
        return self.out(hidden)


def train_tokens_per_second(model, batches, device: str, steps: int, warmup: int) -> tuple[float, float]:
    """(real tokens/s, padded tokens/s) over ``steps`` timed steps after ``warmup`` steps."""
    model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device == "cuda" else torch.autocast("cpu", enabled=False)
    real = padded = 0
    start = None
    for index, batch in enumerate(batches[: warmup + steps]):
        if index == warmup:
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            real = padded = 0
        batch = batch.to(device)
        with autocast:
            logits = model(batch.src, batch.tgt_in)
        loss = F.cross_entropy(logits.float().reshape(-1, VOCAB), batch.tgt_out.reshape(-1), ignore_index=PAD)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        real += batch.n_source_tokens + batch.n_target_tokens
        padded += batch.src.numel() + batch.tgt_out.numel()
    if device == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    return real / elapsed, padded / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch-tokens", type=int, default=4096)
    parser.add_argument("--examples", type=int, default=6000)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--peak-tflops", type=float, default=0.0, help="the device's peak bf16 TFLOP/s, for MFU (H100 SXM: 989)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads on the CPU (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    data = synthetic(args.examples, seed=0)
    lengths = data.lengths

    ours_batches = [collate_seq2seq(data, ix) for ix in bucket_batches(lengths, args.batch_tokens, shuffle=True, seed=1)]
    per_batch = max(1, args.batch_tokens // MAX_LEN)
    plain_batches = [collate_seq2seq(data, ix) for ix in random_batch_indices(len(data), per_batch, seed=1)]
    need = args.warmup + args.steps
    if len(ours_batches) < need or len(plain_batches) < need:
        raise SystemExit(f"not enough batches for {need} steps; raise --examples")

    config = TransformerConfig(
        vocab_size=VOCAB, kind="seq2seq", d_model=D_MODEL, heads=HEADS, encoder_layers=LAYERS, decoder_layers=LAYERS,
        ffn_dim=FFN, dropout=0.1, positional="sinusoidal", norm="pre", tie_embeddings=True, max_length=256, pad_id=PAD,
    )
    ours = build_model(config)
    plain = PlainTransformer()
    print(f"device {args.device}; threads {torch.get_num_threads()}; batch budget {args.batch_tokens} padded tokens; "
          f"baseline batches of {per_batch} examples; {args.steps} timed steps after {args.warmup} warm-up steps")
    print(f"parameters: tfcli {count_parameters(ours):,}; torch.nn.Transformer {count_parameters(plain):,}")
    pad_ours = 1 - sum(b.n_source_tokens + b.n_target_tokens for b in ours_batches[:need]) / sum(b.src.numel() + b.tgt_out.numel() for b in ours_batches[:need])
    pad_plain = 1 - sum(b.n_source_tokens + b.n_target_tokens for b in plain_batches[:need]) / sum(b.src.numel() + b.tgt_out.numel() for b in plain_batches[:need])
    print(f"padding: tfcli bucketed {pad_ours:.1%}; baseline random {pad_plain:.1%}")

    ours_real, ours_padded = train_tokens_per_second(ours, ours_batches, args.device, args.steps, args.warmup)
    plain_real, plain_padded = train_tokens_per_second(plain, plain_batches, args.device, args.steps, args.warmup)
    print(f"tfcli:                real {ours_real:,.0f} tokens/s (padded {ours_padded:,.0f}/s)")
    print(f"torch.nn.Transformer: real {plain_real:,.0f} tokens/s (padded {plain_padded:,.0f}/s)")
    print(f"ratio (real tokens/s): {ours_real / plain_real:.2f}x (goal >= 1.5x)")
    if args.device == "cuda":
        achieved = ours_real * 6 * count_parameters(ours)
        print(f"tfcli model FLOP/s (6 x parameters x real tokens/s, attention not counted): {achieved / 1e12:.2f} TFLOP/s")
        if args.peak_tflops:
            print(f"MFU: {achieved / (args.peak_tflops * 1e12):.1%} of {args.peak_tflops:g} TFLOP/s")

if __name__ == "__main__":
    main()
