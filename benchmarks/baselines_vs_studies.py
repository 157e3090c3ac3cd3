"""Each example study run as a user runs it, its best trial next to its best baseline.

For every ``studies/*.yaml`` (or the ones named), ``tfcli study start`` runs the whole study
into a scratch MLflow store (the baselines land on its parent run as they do for a user),
then ``tfcli report --format json`` gives the best trial and the baselines. Printed per
study: the objective, the best baseline on validation and test, the best trial on
validation and test (its held-out score), the margin on validation, and the wall time.

Run: python benchmarks/baselines_vs_studies.py [--studies quickstart qa-facts] [--scratch DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def tfcli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run([sys.executable, "-m", "tfcli", *args], cwd=cwd, env=env, capture_output=True, text=True)


def best_of(baselines: list[dict], metric: str, mode: str, split: str) -> tuple[str, float] | None:
    scored = [(b["name"], b["metrics"].get(metric)) for b in baselines if b["split"] == split]
    scored = [(n, v) for n, v in scored if v is not None]
    if not scored:
        return None
    return (max if mode == "max" else min)(scored, key=lambda item: item[1])


def run_one(study_file: Path, scratch: Path) -> dict:
    store = f"sqlite:///{scratch}/mlflow.db"
    started = time.monotonic()
    run = tfcli("study", "start", str(study_file), "--tracking-uri", store, "--storage", str(scratch / "ray"), cwd=scratch)
    wall = time.monotonic() - started
    if run.returncode != 0:
        raise SystemExit(f"{study_file.name}: study start exited {run.returncode}:\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}")
    name = next(line.split()[1].rstrip(":") for line in run.stdout.splitlines() if line.startswith("Study "))
    report = tfcli("report", name, "--format", "json", "--tracking-uri", store, cwd=scratch)
    if report.returncode != 0:
        raise SystemExit(f"{name}: report exited {report.returncode}: {report.stderr[-2000:]}")
    payload = json.loads(report.stdout)
    metric, mode = payload["metric"], payload["mode"]
    best = payload["ranked"][0] if payload["ranked"] else None
    return {
        "study": study_file.stem,
        "metric": metric,
        "mode": mode,
        "trials": payload["trials"],
        "baseline_valid": best_of(payload["baselines"], metric, mode, "valid"),
        "baseline_test": best_of(payload["baselines"], metric, mode, "test"),
        "trial": best["trial_id"] if best else None,
        "trial_valid": best["value"] if best else None,
        "trial_test": best["metrics"].get(f"test/{metric}") if best else None,
        "wall_s": wall,
    }


def fmt(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", nargs="*", help="stems of studies/*.yaml (default: all)")
    parser.add_argument("--scratch", type=Path, help="keep the stores here (default: a temporary folder, removed)")
    args = parser.parse_args()
    files = sorted((ROOT / "studies").glob("*.yaml"))
    if args.studies:
        files = [f for f in files if f.stem in args.studies]
    base = args.scratch or Path(tempfile.mkdtemp(prefix="tfcli-bench-"))
    print("| study | objective | best baseline | baseline valid | baseline test | best trial (of n) | trial valid | trial test | margin (valid) | study wall |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    try:
        for study_file in files:
            scratch = base / study_file.stem
            scratch.mkdir(parents=True, exist_ok=True)
            row = run_one(study_file, scratch)
            name, b_valid = row["baseline_valid"] or ("-", None)
            b_test = row["baseline_test"][1] if row["baseline_test"] else None
            margin = None
            if b_valid is not None and row["trial_valid"] is not None:
                margin = (row["trial_valid"] - b_valid) * (1 if row["mode"] == "max" else -1)
            print(
                f"| `{row['study']}` | {row['metric']} ({row['mode']}) | `{name}` | {fmt(b_valid)} | {fmt(b_test)} "
                f"| {row['trial']} (of {row['trials']}) | {fmt(row['trial_valid'])} | {fmt(row['trial_test'])} "
                f"| {fmt(margin)} | {row['wall_s']:.0f} s |",
                flush=True,
            )
    finally:
        if args.scratch is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
