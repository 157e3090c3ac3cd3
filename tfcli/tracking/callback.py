"""The study callback: one parent run per study, one child run per Ray trial.

:class:`StudyTracker` is its logic without Ray; :func:`callback_class` builds
``MlflowStudyCallback`` from it and ``ray.tune.Callback`` the first time the package
:mod:`tfcli.tracking` is asked for that name. What the runs hold: see :mod:`tfcli.tracking`.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Optional

from tfcli.records import TrialState, TrialStatus, trial_state
from tfcli.spec.conditions import active_parameters
from tfcli.spec.objective import primary_objective
from tfcli.spec.results import MAX_TIME_KEY, TRAIN_LOSS_POINTS_KEY, decode_points, reached_end
from tfcli.spec.trial import trial_spec
from tfcli.tracking.artifacts import read_text_artifact
from tfcli.tracking.claims import description_tags, study_run_tags
from tfcli.tracking.environment import current_ray_address, environment_tags
from tfcli.tracking.ray_trial import trial_error_text, best_checkpoint
from tfcli.tracking.search import quote_id, search_all, tag_field
from tfcli.tracking.store import Tracking, ensure_experiment
from tfcli.tracking.tags import (
    CONFIG_HISTORY_ARTIFACT,
    FAILURE_MESSAGE_RESULT_KEY,
    FAILURE_RESULT_KEY,
    HPARAM_METRIC_PREFIX,
    MAX_TAG_VALUE,
    PHASE_RUNNING,
    RAY_RESULT_KEYS,
    ROLE_CONFIRMATION,
    ROLE_STUDY,
    ROLE_TRIAL,
    SPEC_ARTIFACT,
    STUDY_FILE_ARTIFACT,
    TAG_CHECKPOINT_STEP,
    TAG_CONFIG,
    TAG_CONFIG_CHANGES,
    TAG_CONFIG_FINAL,
    TAG_CONFIRM_SEED,
    TAG_CONFIRMS,
    TAG_ERROR,
    TAG_EXPERIMENT_TAG,
    TAG_HOST,
    TAG_LAST_STEP,
    TAG_NUM_FAILURES,
    TAG_OBJECTIVE_METRIC,
    TAG_OBJECTIVE_MODE,
    TAG_OBJECTIVE_STEP,
    TAG_OBJECTIVE_VALUE,
    TAG_PARENT_RUN,
    TAG_PHASE,
    TAG_RAY_ADDRESS,
    TAG_BEST_RUN_ID,
    TAG_BEST_TRIAL,
    TAG_BEST_VALUE_PREFIX,
    TAG_ROLE,
    TAG_SEARCHED,
    TAG_STOP_REASON,
    TAG_STATE,
    TAG_STOPPED_EARLY,
    TAG_STUDY_ID,
    TAG_STUDY_NAME,
    TAG_TASK,
    TAG_TRIAL_ID,
    TAG_TRIAL_NAME,
    TAG_TRIAL_NUMBER,
    TRIAL_ROLES,
)
from tfcli.tracking.values import (
    error_summary,
    int_or_none,
    json_tag,
    metric_name,
    now_ms,
    number,
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
    log_tags,
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
        "parent_run_id", "experiment_id", "_children", "_writer", "_client", "_budget_s", "_t0", "lost_work",
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
        self.lost_work: list[str] = []  # appended to by the writer thread (see the class docstring)

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
        if child is not None and child.failure:
            self._finish(trial, "FAILED", error=child.failure)
        else:
            self._finish(trial, "FINISHED")

    def on_trial_error(self, iteration: int = 0, trials: Any = None, trial: Any = None, **info: Any) -> None:
        self._finish(trial, "FAILED", error=trial_error_text(trial))

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
            if budget_spent:
                self._finish(trial, "FINISHED", stop_reason="time_budget")
            else:
                self._finish(trial, "KILLED")
                killed = True
        status = "KILLED" if killed else "FINISHED"
        metrics, tags = self._study_summary()
        self._writer.call("study summary", op_study_summary, self.parent_run_id, metrics, tags, self.lost_work)
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
                if self._client.get_run(run_id).info.status == "RUNNING":
                    self._client.set_terminated(run_id, "KILLED")
                    if run_id != self.parent_run_id:
                        self._client.set_tag(run_id, TAG_STATE, TrialState.KILLED.value)
            except Exception as err:  # noqa: BLE001 - say what stayed open, then go on
                self.lost_work.append(f"run {run_id} could not be closed after Ctrl-C: {one_line(err)}")

    # other hooks of ray.tune.Callback keep their no-op defaults

    def _study_summary(self) -> tuple[dict[str, float], dict[str, str]]:
        """What the parent run shows of the whole study (earlier sessions' trials included):
        counts as metrics ``trials_<state>``, the best value as ``best_<objective>``, the best
        trial and its searched values as tags (params cannot change when a study is extended).
        Confirmation runs are not trials of the search and are left out."""
        trials = [c for c in self._children.values() if c.role == ROLE_TRIAL]
        counts = {state: 0 for state in TrialState}
        for child in trials:
            counts[trial_state(TrialStatus.from_mlflow(child.status or "RUNNING"), child.stopped_early)] += 1
        metrics: dict[str, float] = {f"trials_{state.value}": float(n) for state, n in counts.items()}
        tags: dict[str, str] = {}
        objective = self.spec.primary_objective
        finished = [c for c in trials if c.status == "FINISHED"]
        best = primary_objective(self.spec).best(finished, key=lambda c: c.objective_key or (c.objective_value, None, None))
        if best is not None:
            metrics[f"best_{metric_name(objective.metric)}"] = float(best.objective_value)
            tags[TAG_BEST_TRIAL] = best.trial_id
            tags[TAG_BEST_RUN_ID] = best.run_id or ""
            for key, value in sorted(best.config.items()):
                tags[TAG_BEST_VALUE_PREFIX + key] = truncate(json.dumps(value) if not isinstance(value, str) else value, MAX_TAG_VALUE)
        return metrics, tags

    # -- parent and children -----------------------------------------------------------------

    def _attach_parent(self, client: "MlflowClient") -> str:
        spec = self.spec
        tags = {
            **study_run_tags(spec, self.study_id),
            TAG_HOST: socket.gethostname(),
            TAG_RAY_ADDRESS: self.ray_address or current_ray_address(),
            TAG_PHASE: PHASE_RUNNING,
            **environment_tags(),
            **self.extra_tags,
        }
        spec_json = spec.model_dump_json(indent=2)
        existing = search_all(
            client,
            [self.experiment_id],
            f"{tag_field(TAG_STUDY_ID)} = {quote_id(self.study_id)} and {tag_field(TAG_ROLE)} = '{ROLE_STUDY}'",
            order_by=["attributes.start_time ASC"],
        )
        if existing:
            run_id = existing[0].info.run_id
            client.update_run(run_id, status="RUNNING")
            log_tags(client, run_id, tags)
        else:
            run_id = client.create_run(self.experiment_id, tags={**tags, **description_tags(spec)}, run_name=spec.name).info.run_id
        client.log_text(run_id, spec_json, SPEC_ARTIFACT)
        study_text = None
        if self.study_file and Path(self.study_file).is_file():
            study_text = Path(self.study_file).read_text(encoding="utf-8")
        if study_text is None:
            import yaml

            study_text = yaml.safe_dump(json.loads(spec_json), sort_keys=False)
        client.log_text(run_id, study_text, STUDY_FILE_ARTIFACT)
        return run_id

    def _load_children(self, client: "MlflowClient") -> dict[str, Child]:
        children: dict[str, Child] = {}
        runs = [
            run
            for role in TRIAL_ROLES
            for run in search_all(
                client,
                [self.experiment_id],
                f"{tag_field(TAG_STUDY_ID)} = {quote_id(self.study_id)} and {tag_field(TAG_ROLE)} = '{role}'",
                order_by=["attributes.start_time ASC"],
            )
        ]
        for run in runs:
            tags = run.data.tags
            trial_id = tags.get(TAG_TRIAL_ID)
            if not trial_id or trial_id in children:
                continue
            config = json_tag(tags.get(TAG_CONFIG_FINAL)) or json_tag(tags.get(TAG_CONFIG)) or {}
            history = []
            if (int_or_none(tags.get(TAG_CONFIG_CHANGES)) or 0) > 0:
                history = json_tag(read_text_artifact(client, run.info.run_id, CONFIG_HISTORY_ARTIFACT)) or []
            last_step = int_or_none(tags.get(TAG_LAST_STEP))
            if last_step is None and run.data.metrics:
                steps = [
                    m.step for key in run.data.metrics for m in client.get_metric_history(run.info.run_id, key)
                ]
                last_step = max(steps) if steps else None
            children[trial_id] = Child(
                trial_id=trial_id,
                run_id=run.info.run_id,
                role=tags.get(TAG_ROLE, ROLE_TRIAL),
                number=int_or_none(tags.get(TAG_TRIAL_NUMBER)),
                status=run.info.status,
                stopped_early=tags.get(TAG_STOPPED_EARLY) == "true",
                objective_value=number(tags.get(TAG_OBJECTIVE_VALUE)),
                last_step=last_step,
                config=config,
                history=history or [{"step": 0, "config": config}],
                max_steps=self._trial_spec(config).train.max_steps,
                ended=True,
                failures=int_or_none(tags.get(TAG_NUM_FAILURES)) or 0,
            )
            max_steps = children[trial_id].max_steps
            children[trial_id].settled = run.info.status == "FINISHED" and reached_end(last_step, max_steps, run.data.metrics)
        return children

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
        self, trial: Any, status: str, *, error: Optional[str] = None, stop_reason: Optional[str] = None
    ) -> None:
        child = self._children.get(trial.trial_id)
        if child is None and error is None:
            return  # a trial that never started (removed while pending): no run to end
        child = self._child(trial)
        if child.ended:
            return
        child.ended = True
        tags: dict[str, str] = {}
        if status == "FINISHED":
            early = stop_reason is not None or (
                child.done_seen
                and child.max_steps is not None
                and child.last_step is not None
                and not child.max_time_reached
                and not reached_end(child.last_step, child.max_steps)
            )
            if early:
                tags[TAG_STOPPED_EARLY] = "true"
                tags[TAG_STOP_REASON] = stop_reason or "scheduler"
            child.stopped_early = early
        child.status = status
        tags[TAG_STATE] = trial_state(TrialStatus(status), child.stopped_early).value
        if error:
            tags[TAG_ERROR] = truncate(error_summary(error), 1000)
        checkpoint = None
        if status != "KILLED":  # a killed trial's checkpoint is logged when it ends after resume
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
        self._writer.call("end trial run", op_finish_child, child, status, tags, error, checkpoint, self.lost_work)


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
