"""A study that knows when to stop: ``budget.target`` and ``budget.patience``.

:class:`StudyStopper` is a Ray Tune ``Stopper`` (its public API): it stops no single trial
(``__call__`` returns False) and ends the whole experiment (``stop_all``) once a trial reports
the target, or once ``patience`` trials in a row ended without beating the study's best. Tune
then starts no more trials and stops the running ones: they are ``stopped``, with the reason
as their stop reason (:func:`tfcli.records.decide_state`). Tune has no hook for a trial's end
on a Stopper, so :func:`trial_end_callback` tells it (scheduler-stopped and failed trials
count: none of them beat the best).

"Better" is the study's one ranking rule, :meth:`~tfcli.spec.objective.Objective.outranks` on
``(value, validation loss, step)`` of the first objective; "reached" is
:meth:`~tfcli.spec.objective.Objective.reaches` in the target metric's direction
(:func:`~tfcli.spec.objective.objective_for`).

``extend`` builds it with the study's earlier trials (``earlier``): patience counts from the
extension against the study's best so far, and a target that an earlier trial already reached
is not applied again (the user asked for more trials after reaching it), while one not yet
reached still ends the extension. ``resume`` builds it afresh: patience counts from the resume.

Lives on the driver only; the runner sets it on the Tuner like the callbacks
(:func:`tfcli.study.ray_internals.set_tuner_stopper`), so it is the object Tune asks.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

from ray.tune import Callback, Stopper

from tfcli.records import TrialRecord
from tfcli.records.state import STOPPED_BY_PATIENCE, STOPPED_BY_TARGET
from tfcli.spec.constraints import broken, constraints_of
from tfcli.spec.objective import TIE_BREAK_METRIC, Objective, objective_for, primary_objective, record_key, value_of
from tfcli.spec.schema import StudySpec
from tfcli.study.trial_wrapper import FAILURE_KEY


class StudyStopper(Stopper):
    """Ends the experiment at ``budget.target`` or after ``budget.patience`` trials without a better best."""

    def __init__(self, spec: StudySpec, earlier: Sequence[TrialRecord] = ()) -> None:
        self.ranking = primary_objective(spec)
        target = spec.budget.target
        self.target: Optional[tuple[Objective, float]] = (objective_for(spec, target.metric), target.value) if target else None
        self.patience = spec.budget.patience
        self.constraints = constraints_of(spec.search.constraints)  # a result that breaks one reaches nothing
        healthy = [r for r in earlier if r.state.is_final and not r.state.is_failure and r.feasible]
        if self.target is not None and any(self.target[0].reaches(value_of(r, self.target[0].metric).value, self.target[1]) for r in healthy):
            self.target = None  # reached before this extension: it runs the trials asked for
        best = self.ranking.best(healthy, key=lambda r: record_key(r, self.ranking.metric))
        self.best: Optional[tuple] = record_key(best, self.ranking.metric) if best is not None else None
        self.without_better = 0
        self.trial_best: dict[str, tuple] = {}
        self.reason: Optional[str] = None  # STOPPED_BY_TARGET or STOPPED_BY_PATIENCE once decided
        self.note: Optional[str] = None  # the sentence the summary and the parent run show
        self.listeners: list[Callable[[str, str], None]] = []
        self.label_of: Callable[[str], object] = lambda trial_id: trial_id  # the runner names trials as the views do

    def __getstate__(self) -> dict:
        # Tune saves its stopper with the experiment's state: the listeners (callbacks holding
        # clients and locks) and the namer are the runner's wiring of this session, not state.
        state = self.__dict__.copy()
        state["listeners"] = []
        state.pop("label_of", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.label_of = lambda trial_id: trial_id

    @property
    def active(self) -> bool:
        return self.target is not None or self.patience is not None

    def __call__(self, trial_id: str, result: dict) -> bool:
        if self.reason is not None or result.get(FAILURE_KEY) or broken(getattr(self, "constraints", []), result):
            return False
        step = result.get("step")
        key = (result.get(self.ranking.metric), result.get(TIE_BREAK_METRIC), step)
        if self.ranking.outranks(key, self.trial_best.get(trial_id)):
            self.trial_best[trial_id] = key
        if self.target is not None:
            objective, value = self.target
            if objective.reaches(result.get(objective.metric), value):
                reached = result[objective.metric]
                self._decide(STOPPED_BY_TARGET, f"target {objective.metric} {'>=' if objective.maximize else '<='} {value:g} "
                             f"reached ({reached:g} at step {step}, trial {self.label_of(trial_id)})")
        return False

    def trial_ended(self, trial_id: str) -> None:
        """A trial ended (by itself, by the scheduler, or failed): count it for patience."""
        key = self.trial_best.pop(trial_id, None)
        if self.ranking.outranks(key, self.best) if key is not None else False:
            self.best, self.without_better = key, 0
            return
        self.without_better += 1
        if self.patience is not None and self.without_better >= self.patience and self.reason is None:
            best = f"; best {self.ranking.metric} {self.best[0]:g}" if self.best is not None else ""
            self._decide(STOPPED_BY_PATIENCE, f"patience: {self.without_better} trials in a row ended without a better {self.ranking.metric}{best}")

    def stop_all(self) -> bool:
        return self.reason is not None

    def _decide(self, reason: str, note: str) -> None:
        self.reason, self.note = reason, note
        for listener in self.listeners:
            listener(reason, note)


def study_stopper(spec: StudySpec, earlier: Sequence[TrialRecord] = ()) -> Optional[StudyStopper]:
    """The study's stopper, or None when its budget sets neither target nor patience."""
    stopper = StudyStopper(spec, earlier)
    return stopper if stopper.active else None


class _TrialEnds(Callback):
    """Tells the stopper of every trial's end (Tune's Stopper has no such hook)."""

    def __init__(self, stopper: StudyStopper) -> None:
        self.stopper = stopper

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self.stopper.trial_ended(trial.trial_id)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self.stopper.trial_ended(trial.trial_id)


def trial_end_callback(stopper: StudyStopper) -> Callback:
    return _TrialEnds(stopper)
