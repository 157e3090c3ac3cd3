"""Metrics for every task, and paired significance tests between two systems.

The training loop, ``tfcli score`` and the reports all call the functions here, so a score
seen in a study is the score ``tfcli score`` prints for the same outputs.

* translation: BLEU, chrF, TER (sacrebleu, signature recorded) and METEOR (NLTK, exact and
  stem matching only: see :data:`METEOR_NOTE`);
* summarization: ROUGE-1/2/L/Lsum F-measures, with precision and recall in the details
  (rouge-score, Porter stemming unless turned off), BLEU, METEOR;
* classification: accuracy, and precision/recall/F1 as macro, micro and weighted averages;
* qa: exact match and F1 with SQuAD's answer normalisation, best over the gold answers,
  by the official v1.1 script's rules (or SQuAD 2.0's).

Every score is on a 0-100 scale. NLTK and rouge-score (which load scikit-learn) and scipy are imported
inside the functions that use them; numpy and sacrebleu at the top of the modules that use
them. The names below load :mod:`tfcli.metrics.api` on first use, so importing this package
is cheap.
"""

from __future__ import annotations

import importlib

_NAMES = (
    "METEOR_NOTE",
    "BootstrapResult",
    "MetricResult",
    "MetricSettings",
    "compute_metrics",
    "metric_names",
    "paired_bootstrap",
    "paired_bootstrap_many",
    "pin_settings",
    "resolve_metrics",
    "seed_bootstrap",
    "sentence_scores",
)

__all__ = list(_NAMES)


def __getattr__(name: str):
    if name in _NAMES:
        return getattr(importlib.import_module("tfcli.metrics.api"), name)
    raise AttributeError(f"module 'tfcli.metrics' has no attribute {name!r}")
