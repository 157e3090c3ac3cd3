"""Tune's synchronous HyperBand, without the race that leaves a trial paused for good.

HyperBand pauses each trial at its bracket's milestone and, once every trial of the bracket
is there, stops them all at the bracket's last milestone (``_Bracket.cleanup_full``). That
step stops only trials whose status is already PAUSED. A trial whose pause is still being
saved at that moment (its result came a moment before the last one of the bracket) is left
out: it becomes PAUSED a few milliseconds later, no bracket will ever resume or stop it, and
``Tuner.fit()`` waits for it forever (Ray 2.60; the trial reached its last milestone, so
nothing is lost by stopping it). Two trials that reach the milestone together hit it easily,
more so on a loaded machine where the pause's save takes longer:
``tests/study/test_runner.py::test_hyperband_trials_that_reach_the_last_milestone_together``
hung in 6 of 8 runs before this fix.

:func:`settled` turns the scheduler :func:`~tfcli.study.space.make_scheduler` built into
:class:`SettledHyperBand`, which stops such a trial as soon as its save is done, as
``cleanup_full`` would have. The bracket bookkeeping it reads is private to Ray; it is read
through :mod:`tfcli.study.ray_internals`.
"""

from __future__ import annotations

from typing import Any

from tfcli.study.ray_internals import hyperband_trial_brackets

_CLASSES: dict[str, type] = {}


def stranded_trials(scheduler: Any) -> list:
    """Trials paused in a bracket that has reached its last milestone: HyperBand stops such
    trials when it finishes the bracket, and would never run or stop these again."""
    from ray.tune.experiment import Trial

    return [
        trial
        for trial, bracket in hyperband_trial_brackets(scheduler)
        if trial.status == Trial.PAUSED and not trial.is_saving and bracket.finished() and trial in bracket.current_trials()
    ]


def _settled_class() -> type:
    """:class:`SettledHyperBand`, built on first use (Ray is imported here)."""
    if "SettledHyperBand" not in _CLASSES:
        from ray.tune.schedulers import HyperBandScheduler

        class SettledHyperBand(HyperBandScheduler):
            """HyperBand that stops the trials :func:`stranded_trials` finds before it
            chooses the next trial to run (Tune asks at every step of the experiment)."""

            def choose_trial_to_run(self, tune_controller):
                for trial in stranded_trials(self):
                    tune_controller.stop_trial(trial)
                return super().choose_trial_to_run(tune_controller)

        SettledHyperBand.__module__ = __name__
        SettledHyperBand.__qualname__ = "SettledHyperBand"
        _CLASSES["SettledHyperBand"] = SettledHyperBand
    return _CLASSES["SettledHyperBand"]


def settled(scheduler: Any) -> Any:
    """``scheduler`` itself, made a :class:`SettledHyperBand` when it is Tune's HyperBand.

    The class is swapped on the built object (it adds a method and no state), so that the
    settings stay where :func:`~tfcli.study.space.make_scheduler` decides them.
    """
    from ray.tune.schedulers import HyperBandScheduler

    if type(scheduler) is HyperBandScheduler:
        scheduler.__class__ = _settled_class()
    return scheduler


def __getattr__(name: str):
    if name == "SettledHyperBand":  # for pickle: Tune saves the scheduler with the experiment
        return _settled_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
