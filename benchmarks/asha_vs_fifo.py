"""ASHA and HyperBand against FIFO: the training steps each spends to get within 1 BLEU of FIFO's best.

For each search seed, the same search space, seed and trial count run three times on the
built-in translation data: with the FIFO scheduler (every trial trains to the end), with ASHA
and with HyperBand. Because the searcher is seeded, the three studies draw the same
configurations; FIFO trains all of them to ``--steps``. For each scheduler, trial results are
replayed in time order and the trial-steps spent (all trials together) by the moment any trial
first reports a BLEU within 1 of FIFO's best are counted; the ratio is those steps over FIFO's
total trial-steps. One seed can be luck (a good configuration drawn early), so the script
reports the median and the worst ratio over the seeds. Goal: median ratio <= 1/4 with the
defaults.

For scale it also prints FIFO's own ratio (its steps to within 1 BLEU over its total): where
that is as low as the scheduler's, a good configuration came early and the scheduler did not
earn the figure.

``asha`` and ``hyperband`` are the defaults: no ``scheduler.metric``, so under the BLEU
objective (flat early: 0 for every trial at the first rung here) they act on the validation
loss. ``asha-bleu`` and ``hyperband-bleu`` set ``scheduler.metric: bleu``, what they did before
that default; the study's objective, and so FIFO's best and the target, stay BLEU.

A scheduler that never comes within 1 BLEU counts as ratio 1.0 (it would have been cheaper to
run FIFO) in the median and worst, and is marked in the table.

Run: python benchmarks/asha_vs_fifo.py [--seeds 1,2,3,4,5] [--trials 16] [--steps 300]
     [--concurrent 0] [--grace-period 50] [--reduction-factor 3] [--schedulers asha,hyperband]
     (--schedulers also takes asha-bleu, hyperband-bleu)

No search.max_concurrent by default: tfcli refuses hyperband under a limit below the trial
count (Ray counts its paused trials against the limit, so it would stop none); the 2 CPUs
still run 2 trials at a time.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

STUDY = """\
name: {name}
task: {{type: translation, data: 'builtin:dates'}}
model: {{d_model: 64, heads: 4, encoder_layers: 2, decoder_layers: 2, ffn_dim: 128, dropout: 0.1}}
train: {{lr: 1.0e-3, warmup_steps: 50, batch_tokens: 2048, max_steps: {steps}, eval_every: {eval_every}}}
data: {{vocab_size: 400, train_size: 3000, valid_size: 100, test_size: 100}}
search:
  method: random
  num_samples: {trials}
{concurrent}  seed: {seed}
  parameters:
    train.lr: {{distribution: log_uniform, min: 1.0e-4, max: 3.0e-3}}
    model.d_model: {{values: [32, 64]}}
    train.warmup_steps: {{values: [20, 100]}}
scheduler: {scheduler}
report: {{test_top: 0}}
"""


def histories(experiment_path: str) -> list[list[tuple[float, int, float]]]:
    """Per trial: (timestamp, step, bleu) of each evaluation."""
    from ray.tune import ExperimentAnalysis

    analysis = ExperimentAnalysis(experiment_path)
    out = []
    for frame in analysis.trial_dataframes.values():
        rows = frame.dropna(subset=["bleu", "step"]) if "bleu" in frame else frame.iloc[0:0]
        out.append([(float(r.timestamp), int(r.step), float(r.bleu)) for r in rows.itertuples()])
    return out


def steps_to_reach(trials: list[list[tuple[float, int, float]]], target: float) -> int | None:
    """Trial-steps spent, all trials together, when a BLEU >= target is first reported."""
    events = sorted((t, index, step, bleu) for index, trial in enumerate(trials) for t, step, bleu in trial)
    spent: dict[int, int] = {}
    for _, index, step, bleu in events:
        spent[index] = max(spent.get(index, 0), step)
        if bleu >= target:
            return sum(spent.values())
    return None


def total_steps(trials: list[list[tuple[float, int, float]]]) -> int:
    return sum(max((step for _, step, _ in trial), default=0) for trial in trials)


def best_bleu(trials: list[list[tuple[float, int, float]]]) -> float:
    return max((bleu for trial in trials for _, _, bleu in trial), default=float("nan"))


def main() -> None:
    import ray

    from tfcli.study.lifecycle import start_study
    from tfcli.spec.load import load_spec_text
    from tfcli.tracking import check_tracking, resolve_tracking

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="1,2,3,4,5", help="Comma-separated search seeds.")
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--eval-every", type=int, default=50)
    parser.add_argument("--concurrent", type=int, default=0, help="search.max_concurrent; 0 leaves it out (Ray's 2 CPUs still run 2 at a time).")
    parser.add_argument("--grace-period", type=int, default=None, help="ASHA grace period (default: --eval-every).")
    parser.add_argument("--reduction-factor", type=float, default=3.0)
    parser.add_argument(
        "--schedulers", default="asha,hyperband",
        help="Any of asha, hyperband (the defaults: on loss under BLEU), asha-bleu, hyperband-bleu (scheduler.metric: bleu).",
    )
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    grace = args.grace_period or args.eval_every
    schedulers = {
        "asha": f"{{type: asha, grace_period: {grace}, reduction_factor: {args.reduction_factor}}}",
        "hyperband": f"{{type: hyperband, reduction_factor: {args.reduction_factor}}}",
    }
    # The same schedulers told to stop on BLEU itself (scheduler.metric), as they did before the default.
    schedulers.update({f"{label}-bleu": text[:-1] + ", metric: bleu}" for label, text in list(schedulers.items())})
    chosen = [s for s in args.schedulers.split(",") if s]
    print(
        f"{args.trials} trials of up to {args.steps} steps, eval every {args.eval_every}, "
        f"{f'max_concurrent {args.concurrent}' if args.concurrent else 'no max_concurrent'}; "
        f"ASHA grace {grace}, reduction factor {args.reduction_factor:g}; seeds {seeds}",
        flush=True,
    )
    root = Path(tempfile.mkdtemp(prefix="tfcli-asha-"))
    start = time.monotonic()
    rows = []
    ratios: dict[str, list[float]] = {label: [] for label in chosen}
    fifo_ratios: list[float] = []
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        tracking = check_tracking(resolve_tracking(f"sqlite:///{root}/mlruns/mlflow.db"))

        def run(label: str, scheduler: str, seed: int):
            text = STUDY.format(
                name=f"bench-{label}-s{seed}", trials=args.trials, steps=args.steps, eval_every=args.eval_every,
                concurrent=f"  max_concurrent: {args.concurrent}\n" if args.concurrent else "", seed=seed, scheduler=scheduler,
            )
            spec = load_spec_text(text, f"{label}-s{seed}.yaml", base_dir=root)
            assert spec.search.seed == seed
            outcome = start_study(spec, tracking, storage=str(root / "ray"), baselines=False)
            print(f"  seed {seed} {label}: {outcome.elapsed_s:.0f}s wall", flush=True)
            return histories(outcome.experiment_path)

        header = ("seed", "scheduler", "FIFO best BLEU", "FIFO trial-steps", "FIFO steps to within 1",
                  "best BLEU", "trial-steps in all", "steps to within 1", "ratio")
        for seed in seeds:
            fifo = run("fifo", "{type: fifo}", seed)
            fifo_best, fifo_steps = best_bleu(fifo), total_steps(fifo)
            fifo_needed = steps_to_reach(fifo, fifo_best - 1.0)
            fifo_ratios.append(fifo_needed / fifo_steps)
            for label in chosen:
                trials = run(label, schedulers[label], seed)
                needed = steps_to_reach(trials, fifo_best - 1.0)
                ratio = needed / fifo_steps if needed is not None else None
                ratios[label].append(ratio if ratio is not None else 1.0)
                row = (seed, label, f"{fifo_best:.2f}", f"{fifo_steps:,}", f"{fifo_needed:,}", f"{best_bleu(trials):.2f}",
                       f"{total_steps(trials):,}", f"{needed:,}" if needed is not None else "never",
                       f"{ratio:.2f}" if ratio is not None else "never (1.00)")
                rows.append(row)
                print("  " + " | ".join(str(c) for c in row), flush=True)
        print()
        print("| " + " | ".join(header) + " |")
        print("| " + " | ".join("---" for _ in header) + " |")
        for row in rows:
            print("| " + " | ".join(str(c) for c in row) + " |")
        print()
        if fifo_ratios:
            print(
                f"fifo (for scale: its own steps to within 1 over its total): median {statistics.median(fifo_ratios):.2f}, "
                f"worst {max(fifo_ratios):.2f}"
            )
        for label in chosen:
            values = ratios[label]
            if not values:
                continue
            median, worst = statistics.median(values), max(values)
            verdict = "holds" if median <= 1 / 4 else "does not hold"
            print(f"{label}: median ratio {median:.2f}, worst {worst:.2f} over {len(values)} seeds; goal median <= 0.25 {verdict}")
        print(f"total wall {time.monotonic() - start:.0f}s")
    finally:
        ray.shutdown()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
