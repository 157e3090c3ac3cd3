"""The only private Optuna APIs that tfcli.study touches, beside
:func:`tfcli.study.ray_internals.distribution_contains`; checked against Optuna 5.1.0 (see
:data:`tfcli.study.ray_internals.CHECKED_OPTUNA_VERSION`).

- :class:`PicklableNSGAIISampler`: ``NSGAIISampler`` (its base ``BaseGASampler``) keeps a
  ``threading.Lock`` in ``_thread_lock``, so it cannot be pickled, and Tune pickles the
  searcher with the Tuner; the subclass drops and remakes it.
- :func:`skip_qmc_samples`: ``QMCSampler._find_sample_id``, which advances the study's Sobol
  counter; an extension's new Optuna study would otherwise start the sequence again and
  repeat the first configurations.

Imported by the driver's searcher (:mod:`tfcli.study.space_optuna`), never on a worker.
"""

from __future__ import annotations

import threading
from typing import Any

from optuna.samplers import NSGAIISampler
from optuna.trial import TrialState


class PicklableNSGAIISampler(NSGAIISampler):
    """``optuna.samplers.NSGAIISampler`` that pickles."""

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_thread_lock", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._thread_lock = threading.Lock()


def nsga2_sampler_class() -> type:
    """The NSGA-II sampler class that the searcher builds (:class:`PicklableNSGAIISampler`)."""
    return PicklableNSGAIISampler


def skip_qmc_samples(sampler: Any, study: Any, count: int) -> None:
    """Advance ``sampler``'s (an ``optuna.samplers.QMCSampler``) sequence in ``study`` past
    ``count`` samples, as if the study's first ``count`` trials had been sampled by it."""
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
    if not trials or count <= 0:
        return
    space = sampler.infer_relative_search_space(study, trials[0])
    if not space:
        return
    for _ in range(count):
        sampler._find_sample_id(study, space)
