"""The team path at scale (issue 25, item 6): a study of 10,000 trials on a PostgreSQL-backed
``mlflow server``, and the driver's memory over 2,000 trials.

Store: PostgreSQL (Debian's ``postgresql``, run from a temporary folder as the tests run it:
``tests/cluster/postgres.py``) under ``mlflow server --serve-artifacts`` (the tests' way too).
The study is written as :mod:`report_scale` writes it for SQLite (same spec, tags, params, five
evaluations of seven metrics per trial, MLflow's batch API), straight into PostgreSQL with
MLflow's SQL store in a few threads (through the server it takes ~10 times longer); the
experiment is created through the server, so artifacts go through it. Only the best 50 trials
get checkpoint artifacts (config, 200 validation outputs, a stub model and tokenizer file):
``report`` reads the top 20's, ``export`` the best one's.

Then ``tfcli report`` (the default table and ``--format json --top 0``), ``study status``,
``study best`` and ``export`` run as fresh processes against the server's URL, interleaved with
the baseline: MLflow's own client reading the same runs as a competent user would
(``mlflow.search_runs`` of the study's experiment, all pages, ordered by bleu). Goal: the
default ``report`` in at most 3 s.

Memory: ``tfcli.study.lifecycle.start_study`` (the real study path: parent run, lease, the
MLflow callback, live display hooks, Tune on embedded Ray, a local SQLite store) runs
``--memory-trials`` trivial trials (each reports three evaluations with a small checkpoint; the
trainable is the only part replaced, because a real trial costs seconds), and a thread samples
the driver's resident memory against the number of trials started. Goal: at most 50 MB growth
per 1,000 trials (measured from the 10 % mark, after Ray's and MLflow's warm-up).

Run: python benchmarks/team_scale.py [--trials 10000] [--runs 3] [--memory-trials 2000]
     [--skip-store] [--skip-memory]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.cluster's PostgreSQL and server helpers

from report_scale import SPEC, STUDY, create_parent, make_trial, timed, write_checkpoint, write_trial  # noqa: E402

WITH_ARTIFACTS = 50
STUB_FILES = {"model.safetensors": b"\x02\x00\x00\x00\x00\x00\x00\x00{}", "tokenizer.json": b"{}"}


def build_server_store(url: str, database_uri: str, trials: int, threads: int = 4) -> None:
    from mlflow import MlflowClient

    from tfcli import tracking as tr
    from tfcli.spec.schema import StudySpec

    server = MlflowClient(tracking_uri=url)
    spec = StudySpec.model_validate(SPEC)
    experiment_id = tr.ensure_experiment(tr.check_tracking(tr.resolve_tracking(url)), STUDY, server)
    database = MlflowClient(tracking_uri=database_uri)
    parent = create_parent(database, experiment_id, spec, "bench-0001")
    rng = random.Random(0)
    planned = [make_trial(spec, n, rng, parent, "bench-0001") for n in range(trials)]
    best = sorted(planned, key=lambda t: -t["best"])[:WITH_ARTIFACTS]
    written, lock = [0], threading.Lock()

    def write(trial: dict) -> tuple[dict, str]:
        run_id = write_trial(database, experiment_id, trial)
        database.set_terminated(run_id, "FINISHED", end_time=trial["start"] + 50_000)
        with lock:
            written[0] += 1
            if written[0] % 500 == 0:
                print(f"  {written[0]} trials written", flush=True)
        return trial, run_id

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        run_ids = {trial["id"]: run_id for trial, run_id in pool.map(write, planned)}
    print(f"  {trials} trials in {time.perf_counter() - started:.0f} s; checkpoints of the best {len(best)} ...", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for trial in best:
            folder = Path(tmp) / trial["id"]
            write_checkpoint(folder, trial, rng)
            for name, content in STUB_FILES.items():
                (folder / name).write_bytes(content)
            server.log_artifacts(run_ids[trial["id"]], str(folder), tr.CHECKPOINT_ARTIFACT_PATH)
    database.set_terminated(parent, "FINISHED")


THROUGH_MLFLOW = """
import sys, mlflow
mlflow.set_tracking_uri(sys.argv[1])
runs = mlflow.search_runs(experiment_names=[sys.argv[2]], filter_string="tags.`tfcli.role` = 'trial'",
                          order_by=["metrics.bleu DESC"], max_results=100000)
print(len(runs), runs.iloc[0]["tags.tfcli.trial_id"])
"""


def time_commands(url: str, root: Path, runs: int, trials: int) -> None:
    tfcli = [sys.executable, "-m", "tfcli"]
    cases = [
        ("tfcli report (default table)", [*tfcli, "report", STUDY]),
        ("tfcli report --format json --top 0", [*tfcli, "report", STUDY, "--format", "json", "--top", "0"]),
        ("tfcli study status", [*tfcli, "study", "status", STUDY]),
        ("tfcli study best", [*tfcli, "study", "best", STUDY]),
        ("tfcli export", [*tfcli, "export", STUDY, "--out", str(root / "export"), "--force"]),
        ("baseline: mlflow.search_runs, all pages", [sys.executable, "-c", THROUGH_MLFLOW, url, STUDY]),
    ]
    os.environ["MLFLOW_TRACKING_URI"] = url
    timed(cases[0][1])  # warm PostgreSQL's and the OS's caches
    walls: dict[str, list[float]] = {label: [] for label, _ in cases}
    rss: dict[str, int] = {}
    for _ in range(runs):  # interleaved, so load drifts hit every case alike
        for label, command in cases:
            wall, peak, out = timed(command)
            walls[label].append(wall)
            rss[label] = max(rss.get(label, 0), peak)
            if "json" in label:
                assert len(json.loads(out)["ranked"]) == trials
    print(f"trials: {trials}; store: PostgreSQL under mlflow server {url}; runs per case: {runs}")
    for label, _ in cases:
        print(f"{label:42s} median {statistics.median(walls[label]):6.2f} s   peak RSS {rss[label] / 1024:6.0f} MiB")
    print("goal: the default report in <= 3 s")


def store_benchmark(trials: int, runs: int) -> None:
    from tests.cluster import postgres as pg
    from tests.cluster.services import mlflow_server, scratch_dir

    why = pg.available()
    if why:
        raise SystemExit(f"cannot run PostgreSQL here: {why}")
    started = time.perf_counter()
    with pg.postgres("tfbench") as database, scratch_dir("tfbench-srv") as root:
        with mlflow_server(root, backend_uri=database.uri, start_timeout_s=300) as url:
            print(f"PostgreSQL and mlflow server up (tables created) in {time.perf_counter() - started:.0f} s", flush=True)
            build_server_store(url, database.uri, trials)
            time_commands(url, root, runs, trials)


def trivial_trial(config: dict, study: dict) -> None:
    """Three evaluations, each with a checkpoint of two small files, as fast as Tune allows."""
    from ray import tune

    for step in (10, 20, 30):
        with tempfile.TemporaryDirectory() as folder:
            Path(folder, "config.json").write_text(json.dumps({"step": step, **config}))
            Path(folder, "valid_outputs.jsonl").write_text('{"index": 0, "prediction": "x", "reference": "x"}\n')
            tune.report({"step": step, "bleu": float(step) * config["train.lr"], "loss": 1.0 / step},
                        checkpoint=tune.Checkpoint.from_directory(folder))


def memory_benchmark(trials: int) -> None:
    from tfcli.spec.schema import StudySpec
    from tfcli.study import lifecycle
    from tfcli.tracking import check_tracking, resolve_tracking

    root = Path(tempfile.mkdtemp(prefix="tfcli-team-memory-"))
    spec = StudySpec.model_validate({
        "name": "memory", "task": {"type": "translation", "data": "builtin:dates"},
        "train": {"max_steps": 30, "eval_every": 10},
        "search": {"method": "random", "num_samples": trials, "max_concurrent": 2, "seed": 1,
                   "parameters": {"train.lr": {"distribution": "log_uniform", "min": 1e-4, "max": 1e-2}}},
        "scheduler": {"type": "fifo"}, "report": {"test_top": 0},
    })
    tracking = check_tracking(resolve_tracking(f"sqlite:///{root}/mlruns/mlflow.db"))
    samples: list[tuple[float, int, float]] = []
    done = threading.Event()
    experiment = root / "ray" / "memory"

    def sample() -> None:
        started = time.perf_counter()
        while not done.wait(2.0):
            count = sum(1 for p in experiment.glob("trial_*") if p.is_dir()) if experiment.exists() else 0
            samples.append((time.perf_counter() - started, count, _rss_mb()))
            if count // 100 > samples[-2][1] // 100 if len(samples) > 1 else False:
                print(f"  {count} trials started, driver RSS {samples[-1][2]:.0f} MiB, {samples[-1][0]:.0f} s", flush=True)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    lifecycle.train_trial = trivial_trial  # the one part replaced: see the module docstring
    started = time.perf_counter()
    outcome = lifecycle.start_study(spec, tracking, storage=str(root / "ray"), baselines=False)
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    print(f"memory: {trials} trivial trials through start_study on embedded Ray in {wall:.0f} s, {outcome.finished} finished")
    _report_growth(samples, trials)


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _report_growth(samples: list[tuple[float, int, float]], trials: int) -> None:
    marks = [trials // 10 * k for k in range(1, 11)]
    print(f"{'trials started':>15s} {'driver RSS MiB':>15s} {'s':>6s}")
    for mark in marks:
        first = next((s for s in samples if s[1] >= mark), None)
        if first:
            print(f"{mark:15d} {first[2]:15.0f} {first[0]:6.0f}")
    start = next((s for s in samples if s[1] >= trials // 10), None)
    end = samples[-1] if samples else None
    if start and end and end[1] > start[1]:
        growth = (end[2] - start[2]) / (end[1] - start[1]) * 1000
        print(f"growth from {start[1]} to {end[1]} trials: {end[2] - start[2]:.0f} MiB, {growth:.0f} MiB per 1,000 trials")
    print("goal: <= 50 MB growth per 1,000 trials")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3, help="Timed runs per command (median reported).")
    parser.add_argument("--memory-trials", type=int, default=2000)
    parser.add_argument("--skip-store", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if not args.skip_store:
        store_benchmark(args.trials, args.runs)
    if not args.skip_memory:
        memory_benchmark(args.memory_trials)


if __name__ == "__main__":
    main()
