"""Study overhead: what tfcli adds around trials, next to plain Ray Tune + MLflowLoggerCallback.

Both run the same 8 short trials (the real trainable, the same search space and seeds) with
the same concurrency, each into its own fresh MLflow SQLite store:

- tfcli: ``tfcli.study.lifecycle.start_study`` (parent and child runs, batched metrics, best
  checkpoint and validation outputs uploaded as artifacts, live-display hooks);
- baseline: ``ray.tune.Tuner`` with ``ray.air.integrations.mlflow.MLflowLoggerCallback``
  (``save_artifact=True``).

overhead = (study wall time x concurrency - summed trial compute) / summed trial compute, where
a trial's compute is Tune's ``time_total_s`` (time inside the trainable). Goal: overhead <= 10%
and no worse than plain Ray Tune. Ray's start-up is paid by neither: one Ray session is started
first and shared.

Run: python benchmarks/study_overhead.py [--trials 8] [--steps 600]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import uuid
from pathlib import Path

STUDY = """\
name: {name}
task: {{type: translation, data: 'builtin:dates'}}
model: {{d_model: 32, heads: 2, encoder_layers: 1, decoder_layers: 1, ffn_dim: 64}}
train: {{lr: 3.0e-3, warmup_steps: 10, batch_tokens: 1024, max_steps: {steps}, eval_every: {eval_every}}}
data: {{vocab_size: 300, train_size: 1000, valid_size: 32, test_size: 32}}
search:
  method: random
  num_samples: {trials}
  max_concurrent: {concurrency}
  seed: 11
  parameters:
    train.lr: {{distribution: log_uniform, min: 1.0e-3, max: 1.0e-2}}
    model.d_model: {{values: [16, 32]}}
scheduler: {{type: fifo}}
"""


def trial_compute(experiment_path: str) -> float:
    from ray.tune import ExperimentAnalysis

    analysis = ExperimentAnalysis(experiment_path)
    return sum(float((trial.last_result or {}).get("time_total_s", 0.0)) for trial in analysis.trials)


def run_tfcli(spec, root: Path) -> tuple[float, float]:
    from tfcli.study.lifecycle import start_study
    from tfcli.tracking import check_tracking, resolve_tracking

    tracking = check_tracking(resolve_tracking(f"sqlite:///{root}/tfcli-store/mlflow.db"))
    started = time.perf_counter()
    outcome = start_study(spec, tracking, storage=str(root / "ray-tfcli"))
    wall = time.perf_counter() - started
    return wall, trial_compute(outcome.experiment_path)


def run_plain(spec, root: Path) -> tuple[float, float]:
    from ray import tune
    from ray.air.integrations.mlflow import MLflowLoggerCallback

    from tfcli.spec.trial import study_payload
    from tfcli.study.space import make_searcher, tuner_param_space
    from tfcli.tracking import check_tracking, resolve_tracking
    from tfcli.train.trainable import train_trial

    uri = check_tracking(resolve_tracking(f"sqlite:///{root}/plain-store/mlflow.db")).uri
    payload = study_payload(spec, study_id=uuid.uuid4().hex, experiment=spec.name)
    trainable = tune.with_resources(
        tune.with_parameters(train_trial, study=payload), {"cpu": spec.resources.cpu, "gpu": spec.resources.gpu}
    )
    tuner = tune.Tuner(
        trainable,
        param_space=tuner_param_space(spec),
        tune_config=tune.TuneConfig(
            metric=spec.primary_objective.metric,
            mode=spec.primary_objective.mode,
            search_alg=make_searcher(spec),
            num_samples=spec.search.num_samples,
        ),
        run_config=tune.RunConfig(
            name=spec.name,
            storage_path=str(root / "ray-plain"),
            callbacks=[MLflowLoggerCallback(tracking_uri=uri, experiment_name=spec.name, save_artifact=True)],
            verbose=0,
        ),
    )
    started = time.perf_counter()
    tuner.fit()
    wall = time.perf_counter() - started
    return wall, trial_compute(str(root / "ray-plain" / spec.name))


def main() -> None:
    import ray

    from tfcli.spec.load import load_spec_text

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="tfcli-overhead-"))
    try:
        ray.init(num_cpus=args.concurrency, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        text = STUDY.format(
            name="overhead", trials=args.trials, steps=args.steps, eval_every=max(args.steps // 3, 1), concurrency=args.concurrency
        )
        spec = load_spec_text(text, "overhead.yaml", base_dir=root)
        results = {}
        for label, runner in (("plain Ray Tune + MLflowLoggerCallback", run_plain), ("tfcli", run_tfcli)):
            wall, compute = runner(spec, root)
            overhead = (wall * args.concurrency - compute) / compute
            results[label] = overhead
            print(f"{label}: wall {wall:.1f}s, summed trial compute {compute:.1f}s, overhead {overhead:.1%}")
        ours, plain = results["tfcli"], results["plain Ray Tune + MLflowLoggerCallback"]
        print(f"{args.trials} trials x {args.steps} steps, concurrency {args.concurrency}")
        print(f"tfcli overhead {ours:.1%} vs plain Ray Tune {plain:.1%} (goal: <= 10% and no worse than plain)")
    finally:
        ray.shutdown()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
