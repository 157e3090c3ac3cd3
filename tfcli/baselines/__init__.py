"""Cheap reference baselines per task: the floor a study's trials have to clear.

Each baseline is fitted on the study's train split and scored on its valid and test splits
with the metric code the trials use (:func:`tfcli.metrics.compute_metrics` with the study's
``eval`` settings), so a baseline's ``bleu`` and a trial's ``bleu`` are the same number for
the same outputs.

* classification: ``majority_class``, ``tfidf_logreg`` (TF-IDF of word 1-2 grams +
  logistic regression, scikit-learn);
* translation: ``copy_source``, ``word_by_word`` (a one-word dictionary learned from the
  training pairs by co-occurrence);
* summarization: ``lead_sentence``, ``lead_tokens`` (the first N words, N the mean length of
  the training targets);
* qa: ``overlap_sentence`` (the context sentence sharing the most words with the question),
  ``overlap_span`` (the best span of that sentence by the words around it).

The modules: :mod:`.results` (what a baseline scored, the best of several), :mod:`.words`
(word and sentence splitting), one module per task with the baselines themselves,
:mod:`.registry` (which baselines a task has), :mod:`.cache` (results kept under
``$TFCLI_CACHE/baselines`` by a hash of the data) and :mod:`.compute`
(:func:`compute_baselines`). No torch, Ray or MLflow here; scikit-learn is imported inside
the one baseline that needs it.
"""

from tfcli.baselines.compute import compute_baselines
from tfcli.baselines.registry import baseline_names
from tfcli.baselines.results import BaselineResult, best_baseline

__all__ = ["BaselineResult", "baseline_names", "best_baseline", "compute_baselines"]
