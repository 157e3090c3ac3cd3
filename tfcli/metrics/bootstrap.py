"""Paired bootstrap resampling of two systems scored on the same references.

Each resample draws N example indices with replacement, and both systems are scored on the
same draw. The indices come from ``numpy.random.default_rng(seed).choice(N, (R, N))``, the
draw sacrebleu's paired bootstrap makes, so for BLEU, chrF and TER (scored from sacrebleu's
own per-segment statistics) the bootstrap means equal sacrebleu's for the same seed.

The p-value is the two-sided bootstrap test of "no difference" (Efron & Tibshirani, ch. 16):
the resampled differences are shifted to mean 0, and p = (1 + #{|shifted| >= |observed|}) /
(R + 1). sacrebleu's own p-value (the Moses procedure) compares ``|d*| - mean|d*|`` with a
strict ``>``, which gives identical systems p = 1/(R+1), "significant"; this one gives them 1.
"""

from __future__ import annotations

import numpy as np

from tfcli.metrics.base import SuffStats


def resample_weights(n_examples: int, n_resamples: int, seed: int) -> "np.ndarray":
    """How often each example is drawn in each resample: (R, N) counts as floats."""
    rng = np.random.default_rng(seed)
    indices = rng.choice(n_examples, size=(n_resamples, n_examples), replace=True)
    offsets = (np.arange(n_resamples) * n_examples)[:, None]
    counts = np.bincount((indices + offsets).ravel(), minlength=n_resamples * n_examples)
    return counts.reshape(n_resamples, n_examples).astype(np.float64)


def percentile_interval(values: "np.ndarray") -> tuple[float, float]:
    """95% interval by order statistics, with sacrebleu's choice of ranks (R // 40 from each end)."""
    ordered = np.sort(values)
    lower = len(ordered) // 40
    return float(ordered[lower]), float(ordered[len(ordered) - lower - 1])


def paired_test(stats_a: SuffStats, stats_b: SuffStats, weights: "np.ndarray") -> dict[str, float]:
    """Scores, bootstrap means, the difference b - a with its 95% interval, and the p-value."""
    score_a, score_b = stats_a.corpus_score(), stats_b.corpus_score()
    boot_a = stats_a.score(stats_a.sums(weights))
    boot_b = stats_b.score(stats_b.sums(weights))
    differences = boot_b - boot_a
    observed = score_b - score_a
    shifted = differences - differences.mean()
    extreme = int(np.count_nonzero(np.abs(shifted) >= abs(observed)))
    ci_low, ci_high = percentile_interval(differences)
    return {
        "score_a": score_a,
        "score_b": score_b,
        "mean_a": float(boot_a.mean()),
        "mean_b": float(boot_b.mean()),
        "diff": observed,
        "ci_low": ci_low,
        "ci_high": ci_high,
        "p_value": (extreme + 1) / (len(differences) + 1),
    }
