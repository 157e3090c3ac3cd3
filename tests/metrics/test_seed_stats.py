"""Issue 13: the statistics across seeds, against scipy on fixed numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from tfcli.metrics.base import ArrayStats
from tfcli.metrics.seed_stats import CHANGES, HOLDS, TIE, seed_summary, two_level_bootstrap, verdict, welch_test

pytestmark = pytest.mark.timeout(60)

A = [31.2, 30.8, 31.9, 30.5]
B = [29.1, 29.8, 28.7]


def test_welch_equals_scipy():
    ours = welch_test(A, B)
    theirs = stats.ttest_ind(A, B, equal_var=False)
    assert ours["t"] == pytest.approx(theirs.statistic, abs=1e-12)
    assert ours["p_value"] == pytest.approx(theirs.pvalue, abs=1e-12)
    assert ours["df"] == pytest.approx(float(theirs.df), abs=1e-9)


def test_seed_summary_equals_the_t_interval():
    summary = seed_summary(A)
    low, high = stats.t.interval(0.95, len(A) - 1, loc=np.mean(A), scale=stats.sem(A))
    assert summary.mean == pytest.approx(np.mean(A)) and summary.std == pytest.approx(np.std(A, ddof=1))
    assert (summary.ci_low, summary.ci_high) == (pytest.approx(low), pytest.approx(high))
    one = seed_summary([3.0])
    assert one.std == 0 and math.isnan(one.ci_low)


def test_identical_configurations_are_a_tie():
    assert welch_test([30.0, 30.0], [30.0, 30.0])["p_value"] == 1.0
    assert verdict(30.0, [("b", 30.0, welch_test(A, A)["p_value"])], "max") == (TIE, None)


def test_a_clearly_better_winner_holds_and_a_clearly_better_rival_changes_it():
    p = welch_test(A, B)["p_value"]
    assert p < 0.05
    assert verdict(np.mean(A), [("b", np.mean(B), p)], "max") == (HOLDS, None)
    assert verdict(np.mean(B), [("a", np.mean(A), p)], "max") == (CHANGES, "a")
    assert verdict(np.mean(A), [("b", np.mean(B), p)], "min") == (CHANGES, "b"), "under min, lower wins"


def test_welch_needs_two_seeds():
    with pytest.raises(ValueError, match="at least 2 seeds"):
        welch_test([1.0], [2.0, 3.0])


def accuracy_stats(correct: list[int]) -> ArrayStats:
    values = np.column_stack([np.asarray(correct, dtype=float), np.ones(len(correct))])
    return ArrayStats(values, lambda sums: 100.0 * sums[:, 0] / sums[:, 1])


def test_two_level_bootstrap_of_identical_runs_finds_no_difference():
    runs = [accuracy_stats([1, 0, 1, 1, 0, 1, 0, 1] * 5) for _ in range(3)]
    result = two_level_bootstrap(runs, runs, n_resamples=500)
    assert result["diff"] == 0 and result["p_value"] == 1.0


def test_two_level_bootstrap_separates_a_real_difference_and_widens_with_seed_noise():
    rng = np.random.default_rng(0)
    weak = [accuracy_stats(list(rng.random(200) < 0.5)) for _ in range(3)]
    strong = [accuracy_stats(list(rng.random(200) < 0.8)) for _ in range(3)]
    result = two_level_bootstrap(weak, strong, n_resamples=500)
    assert result["diff"] > 20 and result["p_value"] < 0.01 and result["ci_low"] > 0
    noisy = [accuracy_stats(list(rng.random(200) < p)) for p in (0.3, 0.8, 0.55)]
    steady = [accuracy_stats(list(rng.random(200) < 0.55)) for _ in range(3)]
    wide = two_level_bootstrap(steady, noisy, n_resamples=500)
    one_seed = two_level_bootstrap(steady[:1], noisy[2:], n_resamples=500)
    assert wide["ci_high"] - wide["ci_low"] > one_seed["ci_high"] - one_seed["ci_low"]
