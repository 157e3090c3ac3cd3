"""CLI start-up time: median wall time of `tfcli --help` next to `python -c "import typer"`.

Goal: tfcli --help takes at most 1.3x the time of importing Typer alone (the CLI's floor).
Run: python benchmarks/cli_startup.py [--runs 9]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def median_seconds(command: list[str], runs: int) -> float:
    subprocess.run(command, capture_output=True, check=True)  # warm the file cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    runs = max(5, args.runs)
    # Interleave the two so machine noise hits both alike.
    baseline, tfcli = [], []
    for _ in range(runs):
        baseline.append(median_seconds([sys.executable, "-c", "import typer"], 1))
        tfcli.append(median_seconds([sys.executable, "-m", "tfcli", "--help"], 1))
    base, ours = statistics.median(baseline), statistics.median(tfcli)
    print(f"runs: {runs}")
    print(f"python -c 'import typer': median {base * 1000:.0f} ms")
    print(f"tfcli --help:             median {ours * 1000:.0f} ms")
    print(f"ratio: {ours / base:.2f}x (goal <= 1.3x)")


if __name__ == "__main__":
    main()
