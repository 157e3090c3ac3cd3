"""Writing to runs: params and tags in batches, and the study callback's writer thread.

:class:`Writer` makes every MLflow call of the study callback after its ``setup``; the
``op_*`` functions are the operations it runs, each called as ``(client, *args)``.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional

from tfcli.records import Evidence, TrialState, TrialStatus, decide_state
from tfcli.tracking.mlflow_private import forget_artifact_repo
from tfcli.tracking.tags import (
    CHECKPOINT_ARTIFACT_PATH,
    CONFIG_HISTORY_ARTIFACT,
    ERROR_ARTIFACT,
    MAX_METRICS_PER_BATCH,
    MAX_PARAM_VALUE,
    MAX_TAG_VALUE,
    MAX_TAGS_PER_BATCH,
    TAG_CHECKPOINT,
    TAG_ERROR,
    TAG_INFEASIBLE,
    TAG_LAST_STEP,
    TAG_STATE,
    TAG_STOP_REASON,
    TAG_STOPPED_EARLY,
)
from tfcli.tracking.values import chunks, metric_name, now_ms, one_line, param_value, truncate

if TYPE_CHECKING:  # pragma: no cover
    from mlflow import MlflowClient

log = logging.getLogger(__name__)


def log_params(client: "MlflowClient", run_id: str, params: Mapping[str, Any]) -> None:
    from mlflow.entities import Param

    batch = [Param(metric_name(k), truncate(param_value(v), MAX_PARAM_VALUE)) for k, v in params.items()]
    for chunk in chunks(batch, MAX_TAGS_PER_BATCH):
        client.log_batch(run_id, params=chunk)


def log_tags(client: "MlflowClient", run_id: str, tags: Mapping[str, str]) -> None:
    from mlflow.entities import RunTag

    batch = [RunTag(k, truncate(str(v), MAX_TAG_VALUE)) for k, v in tags.items() if v is not None]
    for chunk in chunks(batch, MAX_TAGS_PER_BATCH):
        client.log_batch(run_id, tags=chunk)


@dataclass
class Child:
    """The driver's view of one trial's child run."""

    trial_id: str
    run_id: Optional[str] = None  # set by the writer thread once the run exists
    last_step: Optional[int] = None  # the last step whose metrics were queued
    config: dict = field(default_factory=dict)  # the searched values now in force
    history: list = field(default_factory=list)  # config_history.json
    max_steps: Optional[int] = None
    ended: bool = True  # no open run in this session (until on_trial_start)
    done_seen: bool = False  # a scheduler or stopper set done=True on a result
    max_time_reached: bool = False  # its training ended at train.max_time, not stopped
    role: str = "trial"  # trial | confirmation (TRIAL_ROLES)
    number: Optional[int] = None  # TAG_TRIAL_NUMBER
    state: Optional[TrialState] = None  # the state it ended in (None while its run is open)
    objective_value: Optional[float] = None  # at its logged checkpoint
    objective_key: Optional[tuple] = None  # (value, validation loss, step) at that checkpoint, for ties (spec.objective.outranks)
    failures: int = 0
    failure: Optional[str] = None  # a no-retry failure (divergence, out of memory) the trial reported
    settled: bool = False  # FINISHED in MLflow after its last step: nothing left to log
    checkpoint_stored: bool = True  # False once storing its checkpoint failed
    refused: Optional[str] = None  # the search.constraints it broke before training (it trained no step)
    infeasible: Optional[str] = None  # the search.constraints it broke (TAG_INFEASIBLE), once it ended

    @property
    def stopped_early(self) -> bool:
        return self.state is TrialState.STOPPED

    @property
    def name(self) -> str:
        """The trial's MLflow run name: its number, as every view shows it."""
        return f"trial {self.number}" if self.number is not None else self.trial_id


class Writer:
    """A background thread that owns every MLflow call made after ``setup``.

    ``call`` queues an operation, ``metrics`` queues metrics of one child; metrics queued
    between two operations are coalesced into ``log_batch`` calls per run, so a slow store
    never stalls the Tune driver. Operations run in the order they were queued.
    """

    def __init__(self, client: "MlflowClient"):
        self.client = client
        self.errors = 0
        self._queue: "queue.Queue[tuple]" = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="tfcli-mlflow-writer", daemon=True)
        self._thread.start()

    def call(self, what: str, fn: Callable[..., None], *args: Any) -> None:
        self._queue.put(("call", what, fn, args))

    def metrics(self, child: Child, metrics: list, step: int) -> None:
        self._queue.put(("metrics", child, metrics, step))

    @property
    def is_running(self) -> bool:
        """The thread still takes work (it ends after :meth:`close`)."""
        return self._thread.is_alive()

    def flush(self, timeout: Optional[float] = None) -> bool:
        done = threading.Event()
        self._queue.put(("flush", done))
        return done.wait(timeout)

    def close(self, timeout: Optional[float] = None) -> bool:
        flushed = self.flush(timeout)
        self._queue.put(("stop",))
        if flushed:
            self._thread.join(timeout=5)
        return flushed

    def _loop(self) -> None:
        pending: dict[int, tuple[Child, list, int]] = {}
        while True:
            items = [self._queue.get()]
            while True:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            for item in items:
                kind = item[0]
                if kind == "metrics":
                    _, child, metrics, step = item
                    _, queued, last = pending.get(id(child), (child, [], step))
                    pending[id(child)] = (child, queued + metrics, max(last, step))
                    continue
                self._write_pending(pending)
                if kind == "call":
                    _, what, fn, args = item
                    self._guard(what, fn, self.client, *args)
                elif kind == "flush":
                    item[1].set()
                elif kind == "stop":
                    return
            self._write_pending(pending)

    def _write_pending(self, pending: dict) -> None:
        from mlflow.entities import RunTag

        for child, metrics, step in pending.values():
            if child.run_id is None:
                self._warn("metrics", f"trial {child.trial_id} has no run")
                continue
            batches = list(chunks(metrics, MAX_METRICS_PER_BATCH)) or [[]]
            for i, chunk in enumerate(batches):
                # The last-step tag goes with the last chunk, so it never runs ahead of the data.
                tags = [RunTag(TAG_LAST_STEP, str(step))] if i == len(batches) - 1 else []
                self._guard("log_batch", self.client.log_batch, child.run_id, chunk, (), tags)
        pending.clear()

    def _guard(self, what: str, fn: Callable[..., Any], *args: Any) -> None:
        try:
            fn(*args)
        except Exception as err:  # noqa: BLE001 - tracking must never take a study down
            self._warn(what, err)

    def _warn(self, what: str, err: Any) -> None:
        self.errors += 1
        if self.errors <= 5 or self.errors % 100 == 0:
            log.warning("MLflow: %s failed (%d failures so far): %s", what, self.errors, one_line(err))


def op_create_child(client, experiment_id: str, child: Child, tags: dict, params: dict) -> None:
    run = client.create_run(experiment_id, tags=tags, run_name=child.name)
    child.run_id = run.info.run_id
    log_params(client, child.run_id, params)


def op_reopen(client, child: Child) -> None:
    if child.run_id is None:
        return
    client.update_run(child.run_id, status=TrialState.RUNNING.mlflow.value)
    client.set_tag(child.run_id, TAG_STATE, TrialState.RUNNING.value)
    tags = client.get_run(child.run_id).data.tags
    for key in (TAG_STOPPED_EARLY, TAG_STOP_REASON, TAG_ERROR, TAG_INFEASIBLE):
        if key in tags:
            client.delete_tag(child.run_id, key)


def op_config_change(client, child: Child, tags: dict, history: list) -> None:
    if child.run_id is None:
        return
    log_tags(client, child.run_id, tags)
    client.log_dict(child.run_id, history, CONFIG_HISTORY_ARTIFACT)


def op_tags_and_text(client, child: Child, tags: dict, text: Optional[str], artifact_file: str) -> None:
    if child.run_id is None:
        return
    log_tags(client, child.run_id, tags)
    if text:
        client.log_text(child.run_id, text, artifact_file)


def op_finish_child(
    client, child: Child, evidence: Evidence, tags: dict, error: Optional[str], checkpoint: Any, lost_work: list
) -> None:
    """End a trial's run: its error text, its best checkpoint, its final tags, state and status.

    Each step is tried on its own, so one that fails takes none of the others with it: the
    objective tags are written even when the checkpoint is not. A trial whose checkpoint
    could not be stored is decided again with that evidence: it ends ``failed`` (MLflow's
    FAILED, with the reason in ``tfcli.error``), never finished without it; that, and a final
    record that could not be written, is appended to ``lost_work`` as one line naming the
    trial and the reason. ``child.state`` is the state the run ends in.
    """
    if child.run_id is None:
        lost_work.append(f"trial {child.trial_id}: it has no MLflow run (creating it failed), so nothing of it was recorded")
        return
    problems: list[str] = []
    if error:
        _attempt(problems, "its error text could not be stored", client.log_text, child.run_id, error, ERROR_ARTIFACT)
    if checkpoint is not None:
        if _attempt(problems, "its checkpoint could not be stored", _log_checkpoint, client, child.run_id, checkpoint):
            tags = {**tags, TAG_CHECKPOINT: CHECKPOINT_ARTIFACT_PATH}
        else:
            evidence = replace(evidence, checkpoint_stored=False)
            child.checkpoint_stored = False
    state = decide_state(evidence)
    child.state = state
    tags = {**tags, TAG_STATE: state.value}
    if state is TrialState.STOPPED:
        tags.update({TAG_STOPPED_EARLY: "true", TAG_STOP_REASON: evidence.stopped_by})
    if problems:
        reason = "; ".join([tags[TAG_ERROR], *problems] if tags.get(TAG_ERROR) else problems)
        tags = {**tags, TAG_ERROR: truncate(reason, 1000)}
    status = state.mlflow.value
    _attempt(problems, "its final tags could not be written", log_tags, client, child.run_id, tags)
    _attempt(problems, f"its final status {status} could not be written", client.set_terminated, child.run_id, status)
    forget_artifact_repo(child.run_id)
    if problems:
        line = f"trial {child.trial_id} (run {child.run_id}): " + "; ".join(problems)
        log.warning("MLflow: %s", line)
        lost_work.append(line)


def _log_checkpoint(client, run_id: str, checkpoint: Any) -> None:
    with checkpoint.as_directory() as local_dir:
        client.log_artifacts(run_id, local_dir, CHECKPOINT_ARTIFACT_PATH)


def _attempt(problems: list, what: str, fn: Callable[..., Any], *args: Any) -> bool:
    """Run ``fn(*args)``; True when it worked, else False with ``what (the error)`` in ``problems``."""
    try:
        fn(*args)
    except Exception as err:  # noqa: BLE001 - any failure of the store is recorded as lost work
        problems.append(f"{what} ({type(err).__name__}: {one_line(err)})")
        return False
    return True


def op_study_summary(client, run_id: Optional[str], metrics: dict, tags: dict, lost_work: list) -> None:
    """The parent run's summary of the study so far (best value, counts, the best trial)."""
    from mlflow.entities import Metric

    if run_id is None:
        return
    problems: list[str] = []
    now = now_ms()
    batch = [Metric(k, float(v), now, 0) for k, v in metrics.items()]
    _attempt(problems, "its summary metrics could not be written", client.log_batch, run_id, batch)
    _attempt(problems, "its summary tags could not be written", log_tags, client, run_id, tags)
    if problems:
        line = f"the study's run {run_id}: " + "; ".join(problems)
        log.warning("MLflow: %s", line)
        lost_work.append(line)


def op_terminate(client, run_id: Optional[str], status: TrialStatus, lost_work: Optional[list] = None) -> None:
    """End a run (the study's parent) as ``status``; a failure goes to ``lost_work`` when given."""
    if run_id is None:
        return
    status = status.value
    problems: list[str] = []
    _attempt(problems, f"its final status {status} could not be written", client.set_terminated, run_id, status)
    if problems:
        line = f"the study's run {run_id}: " + "; ".join(problems)
        log.warning("MLflow: %s", line)
        if lost_work is not None:
            lost_work.append(line)
