"""Profile tfcli's training step on real-shaped short sequences (torch.profiler).

Runs the same StepRunner and prefetched bucketed batches as ``benchmarks/throughput.py
--lengths real`` and prints the operators that take the most CPU time (self time), so that
the before/after tables in docs/benchmarks.md come from one command.

Run: python benchmarks/profile_step.py [--steps 5] [--precision fp32|bf16|auto] [--rows 15]
"""

from __future__ import annotations

import argparse
import random

import torch
from torch.profiler import ProfilerActivity, profile

from throughput import TfcliLoop, PlainLoop, endless, plain_bucketed, real_lengths, synthetic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--precision", default="fp32", choices=["auto", "fp32", "bf16"])
    parser.add_argument("--batch-tokens", type=int, default=3000)
    parser.add_argument("--rows", type=int, default=15)
    parser.add_argument("--baseline", action="store_true", help="profile the torch.nn.Transformer loop instead")
    parser.add_argument("--sort", default="self_cpu_time_total")
    args = parser.parse_args()
    pairs = real_lengths(20000, random.Random(0))
    data = synthetic(pairs, seed=1)
    torch.manual_seed(0)
    if args.baseline:
        loop = PlainLoop(data, endless(lambda epoch: plain_bucketed(pairs, args.batch_tokens, epoch)), "cpu")
    else:
        loop = TfcliLoop(data, args.batch_tokens, "cpu", args.precision)
    for _ in range(args.warmup):
        loop.step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(args.steps):
            loop.step()
    getattr(loop, "close", lambda: None)()
    print(prof.key_averages().table(sort_by=args.sort, row_limit=args.rows, max_name_column_width=48))


if __name__ == "__main__":
    main()
