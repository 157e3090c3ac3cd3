"""ASHA against FIFO: the training steps ASHA spends to get within 1 BLEU of FIFO's best.

The same search space, seeds and trial count run twice on the built-in translation data, once
with the FIFO scheduler (every trial trains to the end) and once with ASHA. For ASHA, trial
results are replayed in time order and the trial-steps spent by the moment any trial first
reports a BLEU within 1 of FIFO's best are counted. Goal: ASHA's steps / FIFO's steps <= 1/3.

Run: python benchmarks/asha_vs_fifo.py [--trials 8] [--steps 300]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
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
  max_concurrent: 2
  seed: 3
  parameters:
    train.lr: {{distribution: log_uniform, min: 1.0e-4, max: 3.0e-3}}
    model.d_model: {{values: [32, 64]}}
    train.warmup_steps: {{values: [20, 100]}}
scheduler: {scheduler}
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


def main() -> None:
    import ray

    from tfcli.study.lifecycle import start_study
    from tfcli.spec.load import load_spec_text
    from tfcli.tracking import check_tracking, resolve_tracking

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--eval-every", type=int, default=50)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="tfcli-asha-"))
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        tracking = check_tracking(resolve_tracking(f"sqlite:///{root}/mlruns/mlflow.db"))
        runs = {}
        schedulers = {
            "fifo": "{type: fifo}",
            "asha": f"{{type: asha, grace_period: {args.eval_every}, reduction_factor: 3}}",
        }
        for label, scheduler in schedulers.items():
            text = STUDY.format(name=f"bench-{label}", trials=args.trials, steps=args.steps, eval_every=args.eval_every, scheduler=scheduler)
            spec = load_spec_text(text, f"{label}.yaml", base_dir=root)
            outcome = start_study(spec, tracking, storage=str(root / "ray"))
            runs[label] = histories(outcome.experiment_path)
            print(f"{label}: {outcome.elapsed_s:.0f}s wall")
        fifo, asha = runs["fifo"], runs["asha"]
        fifo_best = max(bleu for trial in fifo for _, _, bleu in trial)
        fifo_steps = sum(max((step for _, step, _ in trial), default=0) for trial in fifo)
        asha_total = sum(max((step for _, step, _ in trial), default=0) for trial in asha)
        asha_best = max(bleu for trial in asha for _, _, bleu in trial)
        needed = steps_to_reach(asha, fifo_best - 1.0)
        fifo_needed = steps_to_reach(fifo, fifo_best - 1.0)
        print(f"{args.trials} trials, up to {args.steps} steps each")
        print(f"FIFO: best BLEU {fifo_best:.2f}, {fifo_steps} trial-steps; within 1 BLEU of it after {fifo_needed} trial-steps")
        print(f"ASHA: best BLEU {asha_best:.2f}, {asha_total} trial-steps in all ({asha_total / fifo_steps:.2f} of FIFO's)")
        if needed is None:
            print("ASHA never came within 1 BLEU of FIFO's best")
        else:
            print(f"ASHA reached BLEU >= {fifo_best - 1:.2f} after {needed} trial-steps: ratio {needed / fifo_steps:.2f} (goal <= 0.33)")
    finally:
        ray.shutdown()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
