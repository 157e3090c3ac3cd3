"""``tfcli report`` on a study of 1,000 trials: wall time and peak memory.

Builds (once; reused with --store) a local MLflow store holding one study whose parent run
and 1,000 finished child runs look like the study callback's: the tags, the full
configuration as params, and five evaluations of seven metrics each, written with MLflow's
batch API (``log_batch``). Each child also gets ``checkpoint/config.json`` and
``checkpoint/valid_outputs.jsonl`` (200 validation outputs), so the report really counts
parameters from checkpoint configs and runs its significance tests.

Then it runs ``tfcli report`` as a fresh process (as a user would) several times per format
and prints the median wall time and the peak resident memory of the process. Goal: the
default report (table) in at most 3 s.

Baseline, in the same run: the default report with the standard-library read of the SQLite
store switched off, so that everything is read through MLflow's client as before (the
ratio is what the direct read buys); and the floor, ``tfcli --version``.

Run: python benchmarks/report_scale.py [--trials 1000] [--store DIR] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STUDY = "report-scale"
SPEC = {
    "name": STUDY,
    "task": {"type": "translation", "data": "builtin:dates"},
    "train": {"max_steps": 500, "eval_every": 100},
    "objective": {"metric": "bleu", "mode": "max"},
    "search": {
        "method": "random",
        "num_samples": 1000,
        "parameters": {
            "train.lr": {"distribution": "log_uniform", "min": 1e-4, "max": 3e-3},
            "model.d_model": {"values": [64, 128, 256]},
            "model.encoder_layers": {"distribution": "int_uniform", "min": 1, "max": 4},
            "model.dropout": {"distribution": "uniform", "min": 0.0, "max": 0.3},
        },
    },
}


def build_store(root: Path, trials: int, seed: int = 0) -> str:
    """Write the study into a fresh store under ``root``; returns the tracking URI."""
    from tfcli import tracking as tr
    from tfcli.spec.schema import StudySpec

    tracking = tr.check_tracking(tr.resolve_tracking(f"sqlite:///{root / 'mlflow.db'}"))
    client = tracking.client()
    spec = StudySpec.model_validate(SPEC)
    experiment_id = tr.ensure_experiment(tracking, STUDY, client)
    study_id = "bench-0001"
    parent = create_parent(client, experiment_id, spec, study_id)
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(trials):
            trial = make_trial(spec, n, rng, parent, study_id)
            run_id = write_trial(client, experiment_id, trial)
            folder = Path(tmp) / "checkpoint"
            write_checkpoint(folder, trial, rng)
            client.log_artifacts(run_id, str(folder), tr.CHECKPOINT_ARTIFACT_PATH)
            client.set_terminated(run_id, "FINISHED", end_time=trial["start"] + 50_000)
            if (n + 1) % 100 == 0:
                print(f"  {n + 1} trials written", flush=True)
    client.set_terminated(parent, "FINISHED")
    return tracking.uri


def create_parent(client, experiment_id: str, spec, study_id: str) -> str:
    """The study's parent run, tagged as the study callback tags it; its run id."""
    from tfcli import tracking as tr

    tags = {
        tr.TAG_STUDY_ID: study_id, tr.TAG_STUDY_NAME: STUDY, tr.TAG_ROLE: tr.ROLE_STUDY, tr.TAG_TASK: "translation",
        tr.TAG_OBJECTIVE_METRIC: "bleu", tr.TAG_OBJECTIVE_MODE: "max", tr.TAG_SPEC: spec.model_dump_json(indent=2),
    }
    return client.create_run(experiment_id, run_name=STUDY, tags=tags).info.run_id


REFERENCES = [f"{1990 + i % 30} - {1 + i % 12:02d} - {1 + i % 28:02d}" for i in range(200)]


def make_trial(spec, n: int, rng: random.Random, parent: str, study_id: str) -> dict:
    """One finished trial as the study callback leaves it: tags, params, five evaluations of
    seven metrics, and the objective's best value and step."""
    from mlflow.entities import Metric, Param, RunTag

    from tfcli import tracking as tr

    config = {
        "train.lr": math.exp(rng.uniform(math.log(1e-4), math.log(3e-3))),
        "model.d_model": rng.choice([64, 128, 256]),
        "model.encoder_layers": rng.randint(1, 4),
        "model.dropout": rng.uniform(0.0, 0.3),
    }
    quality = 60 - 8 * abs(math.log10(config["train.lr"]) + 3) + config["model.d_model"] / 32 - 20 * config["model.dropout"]
    trial_id, start = f"bench_{n:05d}", 1_700_000_000_000 + n * 60_000
    metrics, best, best_step = [], -1.0, 0
    for k, step in enumerate(range(100, 501, 100)):
        bleu = max(0.0, quality * (1 - math.exp(-(k + 1) / 2)) + rng.gauss(0, 1.5))
        if bleu > best:
            best, best_step = bleu, step
        values = {"bleu": bleu, "chrf": bleu * 1.4, "ter": 100 - bleu, "meteor": bleu / 100, "loss": 5 / (k + 1), "train_loss": 5.2 / (k + 1), "lr": config["train.lr"]}
        metrics += [Metric(key, float(v), start + step, step) for key, v in values.items()]
    tags = {
        tr.TAG_PARENT_RUN: parent, tr.TAG_STUDY_ID: study_id, tr.TAG_STUDY_NAME: STUDY, tr.TAG_ROLE: tr.ROLE_TRIAL,
        tr.TAG_TRIAL_ID: trial_id, tr.TAG_CONFIG: json.dumps(config, sort_keys=True), tr.TAG_OBJECTIVE_METRIC: "bleu",
        tr.TAG_OBJECTIVE_MODE: "max", tr.TAG_TASK: "translation",
    }
    end_tags = [
        RunTag(tr.TAG_OBJECTIVE_VALUE, repr(best)), RunTag(tr.TAG_OBJECTIVE_STEP, str(best_step)),
        RunTag(tr.TAG_CHECKPOINT_STEP, str(best_step)), RunTag(tr.TAG_CHECKPOINT, tr.CHECKPOINT_ARTIFACT_PATH),
        RunTag(tr.TAG_LAST_STEP, "500"),
    ]
    params = [Param(k, v) for k, v in tr.spec_params(spec.with_overrides(config)).items()]
    return {"id": trial_id, "start": start, "config": config, "best": best, "tags": tags, "params": params,
            "metrics": metrics, "end_tags": end_tags}


def write_trial(client, experiment_id: str, trial: dict) -> str:
    """Create the trial's run and write it with the batch API; its run id (left RUNNING)."""
    run_id = client.create_run(experiment_id, run_name=trial["id"], start_time=trial["start"], tags=trial["tags"]).info.run_id
    for i in range(0, len(trial["params"]), 100):
        client.log_batch(run_id, params=trial["params"][i : i + 100])
    client.log_batch(run_id, metrics=trial["metrics"], tags=trial["end_tags"])
    return run_id


def write_checkpoint(folder: Path, trial: dict, rng: random.Random) -> None:
    """The checkpoint files a report reads: the model config and 200 validation outputs."""
    folder.mkdir(exist_ok=True)
    config = trial["config"]
    model = {"vocab_size": 1000, "kind": "seq2seq", "d_model": config["model.d_model"], "heads": 4,
             "encoder_layers": config["model.encoder_layers"], "decoder_layers": 2, "ffn_dim": 512,
             "positional": "sinusoidal", "norm": "pre", "tie_embeddings": True, "max_length": 256}
    (folder / "config.json").write_text(json.dumps({"format": "tfcli-checkpoint/1", "model": model}))
    with (folder / "valid_outputs.jsonl").open("w") as handle:
        for i, ref in enumerate(REFERENCES):
            prediction = ref if rng.random() < trial["best"] / 70 else ref[:-3] + "00"
            handle.write(json.dumps({"index": i, "source": ref, "reference": ref, "prediction": prediction}) + "\n")


def timed(command: list[str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (KiB) of the child process, and its stdout."""
    start = time.perf_counter()
    # A wrapper child, so ru_maxrss of RUSAGE_CHILDREN is this run's alone.
    code = (
        "import resource, subprocess, sys; p = subprocess.run(sys.argv[1:], capture_output=True, text=True);"
        "sys.stdout.write(p.stdout); sys.stderr.write(p.stderr);"
        "print('MAXRSS', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(p.returncode)"
    )
    done = subprocess.run([sys.executable, "-c", code, *command], capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    rss = int(next(line.split()[1] for line in done.stderr.splitlines() if line.startswith("MAXRSS")))
    return wall, rss, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--store", type=Path, default=None, help="Folder of the store (built there if it holds none).")
    parser.add_argument("--runs", type=int, default=3, help="Timed runs per format (median reported).")
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    root = (args.store or Path(tempfile.mkdtemp(prefix="tfcli-report-scale-"))).absolute()
    root.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    if not (root / "mlflow.db").exists():
        print(f"building a store of {args.trials} trials in {root} ...", flush=True)
        start = time.perf_counter()
        uri = build_store(root, args.trials)
        print(f"  built in {time.perf_counter() - start:.0f} s", flush=True)
    base = [sys.executable, "-m", "tfcli", "report", STUDY, "--tracking-uri", uri]
    cases = [
        ("table (default: top 20, significance, importance)", base),
        ("json, all trials", base + ["--format", "json", "--top", "0"]),
        ("csv, all trials", base + ["--format", "csv", "--top", "0"]),
        ("table --no-significance --no-importance", base + ["--no-significance", "--no-importance"]),
        ("table --metric chrf (reads 1,000 histories)", base + ["--metric", "chrf", "--no-significance", "--no-importance"]),
        ("html (learning curves of the top 10)", base + ["--format", "html", "--no-log", "--out", str(root / "report.html")]),
        ("tfcli study list", [*base[:3], "study", "list", "--tracking-uri", uri]),
        ("tfcli study status (1,000 trials)", [*base[:3], "study", "status", STUDY, "--tracking-uri", uri]),
    ]
    through_mlflow = [sys.executable, "-c", _THROUGH_MLFLOW, *base[3:]]
    floor = [sys.executable, "-m", "tfcli", "--version"]
    print(f"trials: {args.trials}; store: {uri}; runs per case: {args.runs}")
    timed(base)  # warm the file cache
    medians = {}
    for label, command in [("floor: tfcli --version", floor), *cases, ("baseline: the default report read through MLflow", through_mlflow)]:
        results = [timed(command) for _ in range(args.runs)]
        wall, rss, outputs = zip(*results)
        if "json" in label:
            assert len(json.loads(outputs[0])["ranked"]) == args.trials
        medians[label] = statistics.median(wall)
        print(f"{label:52s} median {medians[label]:6.2f} s   peak RSS {max(rss) / 1024:6.0f} MiB")
    default, baseline = medians[cases[0][0]], medians["baseline: the default report read through MLflow"]
    print(f"default report / baseline through MLflow: {default / baseline:.2f}")
    print("goal: the default table report in <= 3 s")
    stages(uri)


_THROUGH_MLFLOW = """
import sys
from tfcli.tracking import sqlite_reader
sqlite_reader.open_store = lambda tracking: None
from tfcli.cli import main
sys.argv = ["tfcli", *sys.argv[1:]]
main()
"""


def stages(uri: str) -> None:
    """Where the default report's time goes, measured in one fresh process."""
    code = f"""
import time
t0 = time.perf_counter()
from tfcli import tracking as tr
tracking = tr.readable_tracking({uri!r})
t1 = time.perf_counter()
snapshot = tr.load_study(tracking, {STUDY!r})
t2 = time.perf_counter()
from tfcli.report import build
from tfcli.report.ranking import rank_trials, searched_parameters
ranking = rank_trials(snapshot.trials, "bleu", "max")
top = ranking.ranked[:20]
build._parameter_counts(tracking, top, snapshot.tags)
t3 = time.perf_counter()
build.significance(tracking, snapshot.study, ranking, 3)
t4 = time.perf_counter()
import optuna.importance
t5 = time.perf_counter()
build.importance(snapshot.study, ranking, searched_parameters(snapshot.study.spec_json, snapshot.trials))
t6 = time.perf_counter()
for name, seconds in [("open the store (standard library)", t1 - t0), ("read 1,000 trials (load_study)", t2 - t1),
                      ("parameter counts of the top 20", t3 - t2), ("significance: 4 files, 3 bootstraps", t4 - t3),
                      ("import optuna.importance (sklearn)", t5 - t4), ("fANOVA over 1,000 trials", t6 - t5)]:
    print(f"  {{name:42s}} {{seconds:5.2f}} s")
"""
    print("stages of the default report, in one process:")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    print(done.stdout.rstrip() or done.stderr)


if __name__ == "__main__":
    main()
