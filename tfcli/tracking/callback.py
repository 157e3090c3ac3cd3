"""The study callback: one parent run per study, one child run per Ray trial.

:class:`StudyTracker` is its logic without Ray; :func:`callback_class` builds
``MlflowStudyCallback`` from it and ``ray.tune.Callback`` the first time the package
:mod:`tfcli.tracking` is asked for that name. What the runs hold: see :mod:`tfcli.tracking`.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Optional

from tfcli.records import Evidence, TrialState, TrialStatus, decide_state
from tfcli.records.state import STOPPED_BY_CONSTRAINT, STOPPED_BY_SCHEDULER, STOPPED_BY_TIME_BUDGET
from tfcli.spec.conditions import active_parameters
from tfcli.spec.constraints import INFEASIBLE_RESULT_KEY, broken, constraints_of, measured
from tfcli.spec.results import MAX_TIME_KEY, TRAIN_LOSS_POINTS_KEY, decode_points, reached_end
from tfcli.spec.trial import trial_spec
from tfcli.tracking.children import load_children
from tfcli.tracking.environment import current_ray_address
from tfcli.tracking.parent import attach_parent, study_stop_tags
from tfcli.tracking.ray_trial import trial_error_text, best_checkpoint
from tfcli.tracking.store import Tracking, ensure_experiment
from tfcli.tracking.summary import study_summary
from tfcli.tracking.tags import (
    FAILURE_MESSAGE_RESULT_KEY,
    FAILURE_RESULT_KEY,
    HPARAM_METRIC_PREFIX,
    MAX_TAG_VALUE,
    RAY_RESULT_KEYS,
    ROLE_CONFIRMATION,
    ROLE_TRIAL,
    TAG_CHECKPOINT_STEP,
    TAG_CONFIG,
    TAG_CONFIG_CHANGES,
    TAG_CONFIG_FINAL,
    TAG_CONFIRM_SEED,
    TAG_CONFIRMS,
    TAG_ERROR,
    TAG_EXPERIMENT_TAG,
    TAG_INFEASIBLE,
    TAG_NUM_FAILURES,
    TAG_OBJECTIVE_METRIC,
    TAG_OBJECTIVE_MODE,
    TAG_OBJECTIVE_STEP,
    TAG_OBJECTIVE_VALUE,
    TAG_PARENT_RUN,
    TAG_RAY_ADDRESS,
    TAG_ROLE,
    TAG_SEARCHED,
    TAG_STATE,
    TAG_STUDY_ID,
    TAG_STUDY_NAME,
    TAG_TASK,
    TAG_TRIAL_ID,
    TAG_TRIAL_NAME,
    TAG_TRIAL_NUMBER,
)
from tfcli.tracking.values import (
    error_summary,
    metric_name,
    now_ms,
    numeric_items,
    one_line,
    param_value,
    plain_config,
    step_of,
    truncate,
)
from tfcli.tracking.writer import (
    Child,
    Writer,
    op_config_change,
    op_create_child,
    op_finish_child,
    op_reopen,
    op_study_summary,
    op_tags_and_text,
    op_terminate,
)

if TYPE_CHECKING:  # pragma: no cover
    from mlflow import MlflowClient

    from tfcli.spec.schema import StudySpec

log = logging.getLogger(__name__)


class StudyTracker:
    """The logic of :class:`MlflowStudyCallback`, without Ray, so tests can drive it directly.

    Constructed on the driver with the store, the study's spec and its id; picklable (Ray
    stores callbacks in ``tuner.pkl``): the client, the writer thread and the run map are
    rebuilt by ``setup`` from the store, which is how a restored study re-attaches.

    ``lost_work`` lists, one line each, what this session could not record: a trial whose
    checkpoint or final record was not written (naming the trial and the reason), the study
    run's end, or writes still queued when the flush timed out. It is complete once
    ``on_experiment_end`` returns; a study with lost work must not report success.
    """

    _RUNTIME = (
        "parent_run_id", "experiment_id", "_children", "_writer", "_client", "_budget_s", "_t0", "lost_work", "_study_stop",
    )

    def __init__(
        self,
        tracking: Tracking,
        spec: "StudySpec",
        study_id: str,
        *,
        study_file: Optional[str | Path] = None,
        ray_address: Optional[str] = None,
        tags: Optional[Mapping[str, Any]] = None,
        log_hparams: Optional[bool] = None,
        flush_timeout_s: float = 300.0,
        confirmations: Optional[list[Mapping[str, Any]]] = None,
    ):
        self.tracking = tracking
        self.confirmations = [dict(entry) for entry in confirmations or []]
        self.spec = spec
        self.study_id = study_id
        self.study_file = str(study_file) if study_file is not None else spec.source_file
        self.ray_address = ray_address
        self.extra_tags = {k: str(v) for k, v in (tags or {}).items()}
        self.log_hparams = spec.scheduler.type == "pbt" if log_hparams is None else log_hparams
        self.flush_timeout_s = flush_timeout_s
        self._reset()

    def _reset(self) -> None:
        self.parent_run_id: Optional[str] = None
        self.experiment_id: Optional[str] = None
        self._children: dict[str, Child] = {}
        self._writer: Optional[Writer] = None
        self._client = None
        self._budget_s: Optional[float] = None
        self._t0 = time.monotonic()
        self._study_stop: Optional[tuple[str, str]] = None
        self.lost_work: list[str] = []  # appended to by the writer thread (see the class docstring)

    def study_stopped(self, reason: str, note: str) -> None:
        """The study's stopper ended the study (``budget.target``, ``budget.patience``): the
        trials still running end as stopped for ``reason``, and the parent run says why."""
        self._study_stop = (reason, note)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        for key in self._RUNTIME:
            state.pop(key, None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._reset()

    def get_state(self) -> Optional[dict]:
        return None  # the store is the state: setup re-reads it

    # -- Tune hooks --------------------------------------------------------------------------

    def setup(
        self, stop: Any = None, num_samples: Any = None, total_num_samples: Any = None, **info: Any
    ) -> None:
        if self._writer is not None:
            self._writer.close(self.flush_timeout_s)
        self._reset()
        self._budget_s = info.get("time_budget_s")
        client = self.tracking.client()
        self._client = client
        self.experiment_id = ensure_experiment(self.tracking, self.spec.name, client)
        self.parent_run_id = self._attach_parent(client)
        self._children = self._load_children(client)
        self._writer = Writer(client)

    def on_trial_start(self, iteration: int = 0, trials: Any = None, trial: Any = None, **info: Any) -> None:
        child = self._children.get(trial.trial_id)
        if child is None:
            self._create_child(trial)
        elif child.ended and not child.settled:
            # A trial Ray restarts after a driver crash may have finished in MLflow already,
            # when the crash came before Ray saved its own state; such a run stays closed.
            self._reopen_child(child, trial)

    def on_trial_restore(self, iteration: int = 0, trials: Any = None, trial: Any = None, **info: Any) -> None:
        pass

    def on_trial_result(
        self,
        iteration: int = 0,
        trials: Any = None,
        trial: Any = None,
        result: Optional[dict] = None,
        **info: Any,
    ) -> None:
        from mlflow.entities import Metric

        result = result or {}
        child = self._child(trial)
        if child.settled:
            return
        if result.get(FAILURE_RESULT_KEY):
            child.failure = f"{result[FAILURE_RESULT_KEY]}: {result.get(FAILURE_MESSAGE_RESULT_KEY, '')}".strip()
            return  # its objective is a sentinel (the worst value), not a measurement
        if result.get(INFEASIBLE_RESULT_KEY):  # refused before training (spec.constraints.refused_result)
            child.refused, result = str(result[INFEASIBLE_RESULT_KEY]), measured(self.spec, result)
        step = step_of(result)
        if step is None:
            return
        config = plain_config(trial.config)
        if config != child.config:
            self._record_config_change(child, config, step)
        if result.get("done"):
            child.done_seen = True
        if result.get(MAX_TIME_KEY):
            child.max_time_reached = True
        if child.last_step is not None and step <= child.last_step:
            return  # logged before a restore (or a PBT exploit went back in steps)
        now = now_ms()
        metrics = [
            Metric("train_loss", loss, now, point)
            for point, loss in decode_points(result)
            if (child.last_step is None or point > child.last_step) and point < step
        ]
        metrics += [
            Metric(metric_name(k), float(v), now, step) for k, v in numeric_items(result, RAY_RESULT_KEYS | {TRAIN_LOSS_POINTS_KEY})
        ]
        if self.log_hparams:
            metrics += [
                Metric(metric_name(HPARAM_METRIC_PREFIX + k), float(v), now, step)
                for k, v in numeric_items(config)
            ]
        child.last_step = step
        self._writer.metrics(child, metrics, step)

    def on_trial_complete(self, iteration: int = 0, trials: Any = None, trial: Any = None, **info: Any) -> None:
        child = self._children.get(trial.trial_id)
        self._finish(trial, error=child.failure if child is not None else None)

    def on_trial_error(self, iteration: int = 0, trials: Any = None, trial: Any = None, **info: Any) -> None:
        self._finish(trial, error=trial_error_text(trial) or "the trial raised")

    def on_trial_recover(self, iteration: int = 0, trials: Any = None, trial: Any = None, **info: Any) -> None:
        child = self._child(trial)
        child.failures += 1
        text = trial_error_text(trial)
        tags = {TAG_NUM_FAILURES: str(child.failures)}
        artifact = f"errors/failure_{child.failures}.txt"
        self._writer.call("recover", op_tags_and_text, child, tags, text, artifact)

    def on_experiment_end(self, trials: Any = None, **info: Any) -> None:
        if self._writer is None:
            return
        budget_spent = bool(self._budget_s) and time.monotonic() - self._t0 >= float(self._budget_s) * 0.98
        killed = False
        for trial in trials or []:
            child = self._children.get(trial.trial_id)
            if child is None or child.ended:
                continue
            if self._study_stop is not None:
                self._finish(trial, stop_reason=self._study_stop[0])
            elif budget_spent:
                self._finish(trial, stop_reason=STOPPED_BY_TIME_BUDGET)
            else:
                self._finish(trial, interrupted=True)
                killed = True
        status = TrialStatus.KILLED if killed else TrialStatus.FINISHED
        self._writer.call("study summary", self._write_summary)
        self._writer.call("end study", op_terminate, self.parent_run_id, status, self.lost_work)
        if not self._writer.close(self.flush_timeout_s):
            line = (
                f"not everything was written to MLflow within {self.flush_timeout_s:.0f}s; "
                "the store may miss the last results and trial ends"
            )
            log.warning("MLflow: %s", line)
            self.lost_work.append(line)
        self._writer = None

    def abandon(self, flush_timeout_s: float = 10.0) -> None:
        """Settle what Tune left open when a second Ctrl-C made it stop at once, skipping
        :meth:`on_experiment_end`: what was queued is written, every open trial run and the
        parent run become KILLED (so ``resume`` continues them). Not a Tune hook: the runner
        calls it (see :func:`tfcli.study.runner._settle_after_second_interrupt`)."""
        if self._client is None:
            return
        if self._writer is not None:
            if self._writer.is_running and not self._writer.close(flush_timeout_s):
                self.lost_work.append(f"not everything was written to MLflow within {flush_timeout_s:.0f}s after Ctrl-C")
            self._writer = None
        open_runs = [c.run_id for c in self._children.values() if not c.ended and c.run_id is not None]
        for child in self._children.values():
            child.ended = True
        for run_id in [*open_runs, self.parent_run_id]:
            if run_id is None:
                continue
            try:
                if TrialStatus.from_mlflow(self._client.get_run(run_id).info.status) is TrialStatus.RUNNING:
                    killed = decide_state(Evidence(interrupted=True))
                    self._client.set_terminated(run_id, killed.mlflow.value)
                    if run_id != self.parent_run_id:
                        self._client.set_tag(run_id, TAG_STATE, killed.value)
            except Exception as err:  # noqa: BLE001 - say what stayed open, then go on
                self.lost_work.append(f"run {run_id} could not be closed after Ctrl-C: {one_line(err)}")

    # other hooks of ray.tune.Callback keep their no-op defaults

    def _study_summary(self) -> tuple[dict[str, float], dict[str, str]]:
        return study_summary(self._children.values(), self.spec)

    def _write_summary(self, client) -> None:
        """The parent run's summary, computed when the writer gets to it: after every trial's
        end queued before it, so a trial its checkpoint failed counts as failed."""
        metrics, tags = self._study_summary()
        if self._study_stop is not None:
            tags.update(study_stop_tags(*self._study_stop))
        op_study_summary(client, self.parent_run_id, metrics, tags, self.lost_work)

    # -- parent and children -----------------------------------------------------------------

    def _attach_parent(self, client: "MlflowClient") -> str:
        tags = {TAG_RAY_ADDRESS: self.ray_address or current_ray_address(), **self.extra_tags}
        return attach_parent(client, self.experiment_id, self.spec, self.study_id, tags, self.study_file)

    def _load_children(self, client: "MlflowClient") -> dict[str, Child]:
        return load_children(client, self.experiment_id, self.study_id, self._trial_spec)

    def _child(self, trial: Any) -> Child:
        child = self._children.get(trial.trial_id)
        if child is None:
            child = self._create_child(trial)
        elif child.ended and not child.settled:
            self._reopen_child(child, trial)
        return child

    def _create_child(self, trial: Any) -> Child:
        config = plain_config(trial.config)
        spec = self._trial_spec(config)
        confirmation = self._confirmation_tags(config)
        child = Child(
            trial_id=trial.trial_id,
            role=confirmation.get(TAG_ROLE, ROLE_TRIAL),
            number=self._next_number(),
            config=config,
            history=[{"step": 0, "config": config}],
            max_steps=spec.train.max_steps,
            ended=False,
        )
        self._children[trial.trial_id] = child
        tags = {
            TAG_PARENT_RUN: self.parent_run_id,
            TAG_STUDY_ID: self.study_id,
            TAG_STUDY_NAME: self.spec.name,
            TAG_ROLE: ROLE_TRIAL,
            **confirmation,
            TAG_SEARCHED: truncate(json.dumps(sorted(active_parameters(self.spec, config))), MAX_TAG_VALUE),
            TAG_TRIAL_ID: trial.trial_id,
            TAG_STATE: TrialState.RUNNING.value,
            TAG_TRIAL_NUMBER: str(child.number),
            TAG_TRIAL_NAME: str(trial),
            TAG_EXPERIMENT_TAG: str(getattr(trial, "experiment_tag", "") or ""),
            TAG_CONFIG: truncate(json.dumps(config, sort_keys=True), MAX_TAG_VALUE),
            TAG_OBJECTIVE_METRIC: self.spec.primary_objective.metric,
            TAG_OBJECTIVE_MODE: self.spec.primary_objective.mode,
            TAG_TASK: self.spec.task.type,
        }
        params = spec_params(spec)
        self._writer.call("create trial run", op_create_child, self.experiment_id, child, tags, params)
        return child

    def number_of(self, trial_id: str) -> Optional[int]:
        """The number the trial ``trial_id`` was given (None for a trial with no run)."""
        child = self._children.get(trial_id)
        return child.number if child is not None else None

    def checkpoint_stored(self, trial_id: str) -> bool:
        """False when the trial's best checkpoint could not be stored (its run is FAILED)."""
        child = self._children.get(trial_id)
        return child.checkpoint_stored if child is not None else True

    def _next_number(self) -> int:
        """The number of the next child run: one past every child this study has, in this
        session and earlier ones (its extends and confirmations), so numbers never repeat."""
        known = [c.number for c in self._children.values() if c.number is not None]
        return max(max(known, default=-1) + 1, len(self._children))

    def _confirmation_tags(self, config: Mapping[str, Any]) -> dict[str, str]:
        """Role and origin of a trial that ``study confirm`` planned (its configuration is a
        planned one, seed included); {} for a trial of the search."""
        for entry in self.confirmations:
            if entry["config"] == dict(config):
                return {TAG_ROLE: ROLE_CONFIRMATION, TAG_CONFIRMS: entry["confirms"], TAG_CONFIRM_SEED: str(entry["seed"])}
        return {}

    def _reopen_child(self, child: Child, trial: Any) -> None:
        child.ended = False
        child.done_seen = False
        self._writer.call("reopen trial run", op_reopen, child)

    def _trial_spec(self, config: Mapping[str, Any]) -> "StudySpec":
        return trial_spec(self.spec, config, strict=False)

    def _record_config_change(self, child: Child, config: dict, step: int) -> None:
        changes = {
            key: {"from": child.config.get(key), "to": config.get(key)}
            for key in sorted(set(child.config) | set(config))
            if child.config.get(key) != config.get(key)
        }
        child.config = config
        child.history.append({"step": step, "config": config, "changes": changes})
        tags = {
            TAG_CONFIG_CHANGES: str(len(child.history) - 1),
            TAG_CONFIG_FINAL: truncate(json.dumps(config, sort_keys=True), MAX_TAG_VALUE),
        }
        history = json.loads(json.dumps(child.history))  # a snapshot for the writer thread
        self._writer.call("config change", op_config_change, child, tags, history)

    def _finish(
        self, trial: Any, *, error: Optional[str] = None, stop_reason: Optional[str] = None, interrupted: bool = False
    ) -> None:
        """End the trial's run; its state is decided on the writer thread, once it is known
        whether its checkpoint was stored (:func:`~tfcli.tracking.writer.op_finish_child`)."""
        child = self._children.get(trial.trial_id)
        if child is None and error is None:
            return  # a trial that never started (removed while pending): no run to end
        child = self._child(trial)
        if child.ended:
            return
        child.ended = True
        if child.refused and not error:
            stop_reason = STOPPED_BY_CONSTRAINT
        evidence = self._evidence(child, error, stop_reason, interrupted)
        tags: dict[str, str] = {}
        if error:
            tags[TAG_ERROR] = truncate(error_summary(error), 1000)
        elif not interrupted:
            infeasible = child.refused or broken(constraints_of(self.spec.search.constraints), getattr(trial, "last_result", None) or {})
            if infeasible:
                child.infeasible = tags[TAG_INFEASIBLE] = truncate(infeasible, 1000)
        checkpoint = None
        if not interrupted:  # a killed trial's checkpoint is logged when it ends after resume
            best = best_checkpoint(trial, self.spec.primary_objective.metric, self.spec.primary_objective.mode)
            if best is not None:
                checkpoint, value, step, loss = best
                child.objective_key = (value, loss, step)
                if value is not None:
                    child.objective_value = float(value)
                    tags[TAG_OBJECTIVE_VALUE] = repr(float(value))
                if step is not None:
                    tags[TAG_OBJECTIVE_STEP] = str(step)
                    tags[TAG_CHECKPOINT_STEP] = str(step)
        self._writer.call("end trial run", op_finish_child, child, evidence, tags, error, checkpoint, self.lost_work)

    @staticmethod
    def _evidence(child: Child, error: Optional[str], stop_reason: Optional[str], interrupted: bool) -> Evidence:
        """What the callback knows of a trial it ends: a scheduler stopped it when a result
        said done before its end (``stop_reason``: the study's time budget ran out)."""
        known = child.max_steps is not None and child.last_step is not None
        end = child.max_time_reached or (known and reached_end(child.last_step, child.max_steps))
        scheduler = child.done_seen and known
        return Evidence(
            reached_end=end and stop_reason is None,  # the time budget's stop is a stop
            stopped_by=stop_reason or (STOPPED_BY_SCHEDULER if scheduler else None),
            failure=error,
            interrupted=interrupted,
        )


def spec_params(spec: "StudySpec") -> dict[str, str]:
    """A spec's ``model``, ``train``, ``data`` and ``eval`` sections as dotted MLflow params."""
    params = {}
    for section in ("model", "train", "data", "eval"):
        for name, value in getattr(spec, section).model_dump(mode="json").items():
            params[f"{section}.{name}"] = param_value(value)
    return params
_CALLBACK_CLASS = None


def callback_class() -> type:
    global _CALLBACK_CLASS
    if _CALLBACK_CLASS is None:
        from ray.tune import Callback

        class MlflowStudyCallback(StudyTracker, Callback):
            """Ray Tune callback: the driver's only writer to MLflow for a study.

            ``MlflowStudyCallback(tracking, spec, study_id, study_file=None, ray_address=None,
            tags=None, log_hparams=None, flush_timeout_s=300)``; pass it in
            ``tune.RunConfig(callbacks=[...])``. See :mod:`tfcli.tracking` for what it logs.
            """

        MlflowStudyCallback.__module__ = __package__  # pickles name it tfcli.tracking.MlflowStudyCallback
        MlflowStudyCallback.__qualname__ = "MlflowStudyCallback"
        _CALLBACK_CLASS = MlflowStudyCallback
    return _CALLBACK_CLASS
