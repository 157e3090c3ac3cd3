"""Statistics across seeds: is a configuration's score a property of it, or of its seed?

A study picks its winner on one seed per configuration. ``tfcli study confirm`` retrains the
top configurations with several seeds each; these functions say what those runs show:

- :func:`seed_summary`: mean, standard deviation and the 95% confidence interval of the mean
  (Student's t with n - 1 degrees of freedom) of one configuration's scores;
- :func:`welch_test`: Welch's t-test of two configurations' seed scores (scipy's
  ``ttest_ind(equal_var=False)``), which does not assume equal variances;
- :func:`two_level_bootstrap`: both sources of doubt at once: each resample draws seeds with
  replacement (per configuration), then examples with replacement (the same draw for both,
  since both are scored on the same references), and scores the mean over the drawn seeds;
- :func:`verdict`: one line for the user: the winner holds, a tie within noise, or the
  winner changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from tfcli.metrics.base import SuffStats
from tfcli.metrics.bootstrap import percentile_interval, resample_weights
from tfcli.spec.objective import Objective

#: Significance level of the verdict.
ALPHA = 0.05

HOLDS = "holds"
TIE = "tie"
CHANGES = "changes"


@dataclass(frozen=True)
class SeedSummary:
    n: int
    mean: float
    std: float  # sample standard deviation (n - 1); 0 for one seed
    ci_low: float  # NaN for one seed
    ci_high: float

    def to_dict(self) -> dict:
        finite = self.n > 1
        return {
            "n": self.n, "mean": self.mean, "std": self.std,
            "ci_low": self.ci_low if finite else None, "ci_high": self.ci_high if finite else None,
        }


def seed_summary(values: Sequence[float]) -> SeedSummary:
    """Mean, standard deviation and 95% t-interval of the mean of one configuration's scores."""
    from scipy import stats

    scores = np.asarray([float(v) for v in values], dtype=np.float64)
    if len(scores) == 0:
        raise ValueError("a seed summary needs at least one score")
    mean = float(scores.mean())
    if len(scores) == 1:
        return SeedSummary(1, mean, 0.0, math.nan, math.nan)
    std = float(scores.std(ddof=1))
    half = float(stats.t.ppf(0.975, len(scores) - 1)) * std / math.sqrt(len(scores))
    return SeedSummary(len(scores), mean, std, mean - half, mean + half)


def welch_test(a: Sequence[float], b: Sequence[float]) -> dict[str, float]:
    """Welch's t-test of "a and b have the same mean": t, degrees of freedom and two-sided p.

    Two sets of constant scores have no variance to test against: p is 1 when their means
    are equal and 0 when they differ, and t and df are None (undefined).
    """
    from scipy import stats

    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(x) < 2 or len(y) < 2:
        raise ValueError(f"Welch's t-test needs at least 2 seeds per configuration, but got {len(x)} and {len(y)}")
    vx, vy = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    if vx + vy == 0:
        return {"t": None, "df": None, "p_value": 1.0 if x.mean() == y.mean() else 0.0}
    result = stats.ttest_ind(x, y, equal_var=False)
    df = (vx + vy) ** 2 / (vx**2 / (len(x) - 1) + vy**2 / (len(y) - 1))
    return {"t": float(result.statistic), "df": float(df), "p_value": float(result.pvalue)}


def two_level_bootstrap(
    seeds_a: Sequence[SuffStats], seeds_b: Sequence[SuffStats], *, n_resamples: int = 1000, seed: int = 12345
) -> dict[str, float]:
    """The difference b - a of the seed-mean scores, resampling seeds and then examples.

    ``seeds_a``/``seeds_b``: per seed, the per-example statistics of one run on the same
    references (in the same order). Returns the observed difference, its 95% interval and
    the two-sided p-value of "no difference" (the shifted-null test of
    :mod:`tfcli.metrics.bootstrap`).
    """
    if not seeds_a or not seeds_b:
        raise ValueError("the two-level bootstrap needs at least one seed per configuration")
    n_examples = seeds_a[0].n_examples
    if any(s.n_examples != n_examples for s in [*seeds_a, *seeds_b]):
        raise ValueError("every run must be scored on the same examples")
    weights = resample_weights(n_examples, n_resamples, seed)
    rng = np.random.default_rng(seed + 1)
    boot_a = np.stack([s.score(s.sums(weights)) for s in seeds_a])  # (S_a, R)
    boot_b = np.stack([s.score(s.sums(weights)) for s in seeds_b])
    columns = np.arange(n_resamples)
    pick_a = rng.integers(0, len(seeds_a), size=(len(seeds_a), n_resamples))
    pick_b = rng.integers(0, len(seeds_b), size=(len(seeds_b), n_resamples))
    mean_a = boot_a[pick_a, columns].mean(axis=0)
    mean_b = boot_b[pick_b, columns].mean(axis=0)
    differences = mean_b - mean_a
    observed = float(np.mean([s.corpus_score() for s in seeds_b]) - np.mean([s.corpus_score() for s in seeds_a]))
    shifted = differences - differences.mean()
    extreme = int(np.count_nonzero(np.abs(shifted) >= abs(observed)))
    low, high = percentile_interval(differences)
    return {"diff": observed, "ci_low": low, "ci_high": high, "p_value": (extreme + 1) / (n_resamples + 1)}


def verdict(winner_mean: float, others: Sequence[tuple[str, float, float]], mode: str) -> tuple[str, str | None]:
    """The verdict on the study's winner against the other confirmed configurations.

    ``others``: (name, confirmed mean, p-value of the winner against it). The winner
    *changes* when another configuration's mean is better and the difference is significant;
    it *holds* when its mean is better than every other's, each significantly; anything else
    is a *tie* within noise. Returns the verdict and, when it changes, the new winner.
    """
    sign = Objective("", mode).sign
    better_others = [(name, mean, p) for name, mean, p in others if sign * (mean - winner_mean) > 0]
    significant_better = [o for o in better_others if o[2] < ALPHA]
    if significant_better:
        best = max(significant_better, key=lambda o: sign * o[1])
        return CHANGES, best[0]
    if others and not better_others and all(p < ALPHA for _, _, p in others):
        return HOLDS, None
    return TIE, None
