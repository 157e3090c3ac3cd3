"""CLI start-up time: median wall time of `tfcli --help` next to `python -c "import typer"`.

Goal: tfcli --help takes at most 1.3x the time of importing Typer alone (the CLI's floor).
The CPU time (user + system) of each run is printed too: on a loaded machine the wall times
wait for a core, and the CPU times still compare the work each command does.
Run: python benchmarks/cli_startup.py [--runs 9]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time


def timed(command: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of ``command``."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise subprocess.CalledProcessError(process.returncode, command)
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    runs = max(5, args.runs)
    commands = {"typer": [sys.executable, "-c", "import typer"], "tfcli": [sys.executable, "-m", "tfcli", "--help"]}
    for command in commands.values():
        timed(command)  # warm the file cache
    # Interleave the two so machine noise hits both alike.
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            times[name].append(timed(command))
    wall = {name: statistics.median(t[0] for t in runs_) for name, runs_ in times.items()}
    cpu = {name: statistics.median(t[1] for t in runs_) for name, runs_ in times.items()}
    print(f"runs: {runs}")
    print(f"python -c 'import typer': median {wall['typer'] * 1000:.0f} ms (CPU {cpu['typer'] * 1000:.0f} ms)")
    print(f"tfcli --help:             median {wall['tfcli'] * 1000:.0f} ms (CPU {cpu['tfcli'] * 1000:.0f} ms)")
    print(f"ratio: {wall['tfcli'] / wall['typer']:.2f}x (goal <= 1.3x); CPU {cpu['tfcli'] / cpu['typer']:.2f}x")


if __name__ == "__main__":
    main()
