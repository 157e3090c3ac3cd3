"""Issue 24, acceptance 1: one rule decides a trial's state, and every view prints its word.

The rule is unit-tested on the evidence of each situation. Then one study holds a trial of
each situation (finished, stopped by ASHA, stopped by its time budget, checkpoint not stored,
diverged, raised and retried, raised until its retries ran out, interrupted), driven through
the real study callback into a real MLflow store and through the driver-side watch into the
live display (no Ray: the hooks get what Ray would give them), and every view is read back:
the ``tfcli.state`` tag, ``study status`` (JSON and table), the report (CSV, JSON, table,
Markdown, HTML), the live display and its log lines, the end-of-study summary and the parent
run's ``trials_<state>`` counts.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections import Counter
from types import SimpleNamespace

import pytest

from tests.tracking.test_defect6_artifact_upload_failure import _make_unwritable, _run_folder
from tests.tracking.test_tracking import FakeTrial, _empty_store_db, drive, make_spec, store  # noqa: F401 - fixtures
from tfcli.records import Evidence, TrialState, decide_state
from tfcli.records.state import RAY_ERROR, RAY_PAUSED, RAY_RUNNING, RAY_TERMINATED, STOPPED_BY_SCHEDULER, STOPPED_BY_TIME_BUDGET
from tfcli.study.outcome import StudyOutcome, TrialSummary, _evidence
from tfcli.study.trial_wrapper import FAILURE_KEY, FAILURE_MESSAGE_KEY
from tfcli.study.watch import Tracked, _WatchHooks
from tfcli.tracking.callback import StudyTracker

FINISHED, STOPPED, FAILED, KILLED, RUNNING = (
    TrialState.FINISHED, TrialState.STOPPED, TrialState.FAILED, TrialState.KILLED, TrialState.RUNNING,
)


@pytest.mark.parametrize(
    "evidence, state",
    [
        (Evidence(ray_status=RAY_TERMINATED, reached_end=True), FINISHED),
        (Evidence(ray_status=RAY_TERMINATED, stopped_by=STOPPED_BY_SCHEDULER), STOPPED),
        (Evidence(ray_status=RAY_TERMINATED, reached_end=True, stopped_by=STOPPED_BY_SCHEDULER), FINISHED),  # ASHA at max_t
        (Evidence(ray_status=RAY_TERMINATED, stopped_by=STOPPED_BY_TIME_BUDGET), STOPPED),
        (Evidence(ray_status=RAY_TERMINATED, reached_end=True, checkpoint_stored=False), FAILED),
        (Evidence(ray_status=RAY_TERMINATED, failure="diverged"), FAILED),
        (Evidence(ray_status=RAY_RUNNING), RUNNING),  # raised, and being retried
        (Evidence(ray_status=RAY_TERMINATED, reached_end=True), FINISHED),  # raised, retried, then finished
        (Evidence(ray_status=RAY_ERROR), FAILED),  # raised until its retries ran out
        (Evidence(ray_status=RAY_RUNNING, study_over=True), KILLED),  # interrupted
        (Evidence(interrupted=True, reached_end=True), KILLED),
        (Evidence(ray_status=RAY_PAUSED, reached_end=True, study_over=True), FINISHED),  # HyperBand at max_t
        (Evidence(ray_status=RAY_PAUSED, study_over=True), KILLED),
        (Evidence(ray_status=RAY_TERMINATED), FINISHED),  # ended by itself
    ],
)
def test_the_one_rule_on_the_evidence_of_each_situation(evidence, state):
    assert decide_state(evidence) is state


STEPS = [10, 20, 30, 40, 50]  # make_spec: max_steps 50

EXPECTED = {  # Ray trial id -> the word every view must print
    "v_finished": "finished",
    "v_asha": "stopped",
    "v_lost_checkpoint": "failed",
    "v_diverged": "failed",
    "v_retried": "finished",
    "v_gave_up": "failed",
    "v_interrupted": "killed",
    "v_budget": "stopped",
}


class RayView(SimpleNamespace):
    """What ``_summaries`` reads of a trial from Ray's saved experiment."""


def _both(tracker, watch, hook, trial, **kwargs):
    getattr(tracker, hook)(trial=trial, **kwargs)
    getattr(watch, hook)(0, [], trial, **kwargs)


def _results(tracker, watch, trial, steps, tmp_path, *, done_at=None):
    for step in steps:
        drive(tracker, trial, [step], tmp_path, done_at=done_at)
        trial.last_result = {"step": step, "bleu": step / 10, "done": step == done_at}
        watch.on_trial_result(0, [], trial, trial.last_result)


def _session_one(store, spec, live, tmp_path):
    tracker = StudyTracker(store, spec, "study-views")
    tracker.setup(time_budget_s=None)
    watch = _WatchHooks(Tracked(live, tracker), spec.train.max_steps)
    trials = {tid: FakeTrial(tid, {}) for tid in EXPECTED if tid != "v_budget"}
    for trial in trials.values():
        trial.last_result = {}
        _both(tracker, watch, "on_trial_start", trial)
    assert tracker._writer.flush(30)
    _make_unwritable(_run_folder(store, tracker._children["v_lost_checkpoint"].run_id), "blocked")

    _results(tracker, watch, trials["v_finished"], STEPS, tmp_path)
    _both(tracker, watch, "on_trial_complete", trials["v_finished"])
    _results(tracker, watch, trials["v_asha"], [10, 20], tmp_path, done_at=20)
    _both(tracker, watch, "on_trial_complete", trials["v_asha"])
    _results(tracker, watch, trials["v_lost_checkpoint"], STEPS, tmp_path)
    _both(tracker, watch, "on_trial_complete", trials["v_lost_checkpoint"])

    diverged = trials["v_diverged"]
    _results(tracker, watch, diverged, [10, 20], tmp_path)
    failure = {"step": 20, "bleu": float("-inf"), FAILURE_KEY: "diverged", FAILURE_MESSAGE_KEY: "DivergedError: loss is nan"}
    tracker.on_trial_result(trial=diverged, result=failure)
    diverged.last_result = failure
    watch.on_trial_result(0, [], diverged, failure)
    _both(tracker, watch, "on_trial_complete", diverged)

    error_file = tmp_path / "error.txt"
    error_file.write_text("Failure # 1\nTraceback (most recent call last):\nRuntimeError: this configuration always fails\n")
    for tid in ("v_retried", "v_gave_up"):
        trials[tid].error_file = str(error_file)
        _results(tracker, watch, trials[tid], [10], tmp_path)
        _both(tracker, watch, "on_trial_recover", trials[tid])
    _results(tracker, watch, trials["v_retried"], [20, 30, 40, 50], tmp_path / "again")
    _both(tracker, watch, "on_trial_complete", trials["v_retried"])
    _both(tracker, watch, "on_trial_error", trials["v_gave_up"])

    _results(tracker, watch, trials["v_interrupted"], [10], tmp_path)
    tracker.on_experiment_end(trials=list(trials.values()))  # the Ctrl-C: the open run is killed
    ray_status = {"v_gave_up": RAY_ERROR, "v_interrupted": RAY_RUNNING}
    views = [RayView(trial_id=t.trial_id, status=ray_status.get(t.trial_id, RAY_TERMINATED), config={}, last_result=t.last_result)
             for t in trials.values()]
    return tracker, watch, views


def _session_two(store, spec, live, tmp_path):
    """The study resumed under a time budget that runs out while its one new trial trains."""
    tracker = StudyTracker(store, spec, "study-views")
    tracker.setup(time_budget_s=0.01)
    watch = _WatchHooks(Tracked(live, tracker), spec.train.max_steps)
    trial = FakeTrial("v_budget", {})
    trial.last_result = {}
    _both(tracker, watch, "on_trial_start", trial)
    _results(tracker, watch, trial, [10], tmp_path / "budget")
    time.sleep(0.05)
    tracker.on_experiment_end(trials=[trial])  # Tune tells no hook of the trials its budget stops
    return tracker, watch, [RayView(trial_id="v_budget", status=RAY_TERMINATED, config={}, last_result=trial.last_result)]


def _outcome(spec, sessions) -> StudyOutcome:
    summaries = []
    for tracker, watch, views in sessions:
        session = []
        for view in views:
            state = decide_state(_evidence(view, view.last_result, spec, watch))
            session.append(TrialSummary(view.trial_id, state, {}, None, view.last_result.get("step"), 0, None, None,
                                        number=watch.number_of(view.trial_id), raised=view.status == RAY_ERROR))
        watch.settle(session)
        summaries += session
    return StudyOutcome(name=spec.name, experiment_path="", metric="bleu", mode="max", trials=summaries)


@pytest.mark.timeout(300)
def test_every_view_prints_the_same_state_word_in_each_situation(store, tmp_path, cli, monkeypatch):
    from rich.console import Console

    from tfcli.cli.study import study_summary
    from tfcli.cli.study_live import StudyLive

    spec = make_spec("views")

    def tfcli(*args):
        return cli(*args, "--tracking-uri", store.uri)

    monkeypatch.setenv("TFCLI_STATUS_EVERY_S", "3600")
    screen = Console(width=300, record=True, force_terminal=False)
    live = StudyLive(screen, spec, total=len(EXPECTED))
    with live:
        sessions = [_session_one(store, spec, live, tmp_path), _session_two(store, spec, live, tmp_path)]
        outcome = _outcome(spec, sessions)

    runs = {r.data.tags["tfcli.trial_id"]: r for r in store.client().search_runs(
        [store.client().get_experiment_by_name("views").experiment_id], "tags.`tfcli.role` = 'trial'")}
    assert set(runs) == set(EXPECTED)
    label = {tid: run.data.tags["tfcli.trial_number"] for tid, run in runs.items()}
    by_label = {label[tid]: word for tid, word in EXPECTED.items()}
    assert len(set(label.values())) == len(EXPECTED)

    # the tfcli.state tag, and MLflow's own status under it
    assert {tid: run.data.tags["tfcli.state"] for tid, run in runs.items()} == EXPECTED
    assert {tid: run.info.status for tid, run in runs.items()} == {tid: TrialState(w).mlflow.value for tid, w in EXPECTED.items()}
    assert runs["v_lost_checkpoint"].info.status == "FAILED"

    # study status, JSON and table
    status = tfcli("study", "status", "views", "--format", "json")
    assert status.exit_code == 0, status.output
    assert {t["trial_id"]: t["state"] for t in json.loads(status.stdout)["trials"]} == EXPECTED
    table = tfcli("study", "status", "views").stdout
    assert _table_rows(table) == by_label, table

    _check_the_report(tfcli, tmp_path, by_label)

    # the live display and its plain log lines, under the trial's number
    assert {name: trial["state"].value for name, trial in live.trials.items()} == by_label
    lines = [line[20:] for line in screen.export_text().splitlines() if re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ", line)]
    last = {}
    for line in lines:
        if m := re.match(r"trial (\S+) (finished|stopped|failed|killed)\b", line):
            last[m.group(1)] = m.group(2)
    assert last == by_label, lines
    assert f"trial {label['v_gave_up']} raised; retrying from its last checkpoint at step 10: RuntimeError" in "\n".join(lines)

    # the end-of-study summary and the parent run's counts
    assert {t.trial_id: t.status.value for t in outcome.trials} == EXPECTED
    counts = Counter(EXPECTED.values())
    assert study_summary(outcome, "views")["states"] == {s.value: counts.get(s.value, 0) for s in TrialState}
    parent = store.client().get_run(sessions[-1][0].parent_run_id)
    assert {k: int(v) for k, v in parent.data.metrics.items() if k.startswith("trials_")} == {
        f"trials_{s.value}": counts.get(s.value, 0) for s in TrialState
    }


def _check_the_report(tfcli, tmp_path, by_label: dict) -> None:
    """The report's status column in CSV, JSON, table, Markdown and HTML: the state word."""
    options = ("--no-significance", "--no-importance")
    report_csv = tfcli("report", "views", "--format", "csv", *options)
    assert report_csv.exit_code == 0, report_csv.output
    assert {row["trial"]: row["status"] for row in csv.DictReader(io.StringIO(report_csv.stdout))} == by_label
    report_json = json.loads(tfcli("report", "views", "--format", "json", *options).stdout)
    assert {str(r["number"]): r["state"] for r in report_json["ranked"] + report_json["apart"]} == by_label
    for fmt in ("table", "markdown"):
        text = tfcli("report", "views", "--format", fmt, *options).stdout
        assert _table_rows(text) == by_label, text
    html_path = tmp_path / "r.html"
    assert tfcli("report", "views", "--format", "html", "--out", str(html_path), *options).exit_code == 0
    html_states = {}
    for table in re.findall(r"<table.*?</table>", html_path.read_text(), re.S):
        headers = re.findall(r"<th(?:\s[^>]*)?>(.*?)</th>", table)
        if "trial" in headers and "status" in headers:
            for row in re.findall(r"<tr>(.*?)</tr>", table, re.S):
                cells = re.findall(r"<td(?:\s[^>]*)?>(.*?)</td>", row)
                if len(cells) == len(headers):
                    html_states[cells[headers.index("trial")]] = cells[headers.index("status")]
    assert html_states == by_label, html_states


def _table_rows(text: str) -> dict[str, str]:
    """{trial: state word} from every table in ``text`` (Rich or Markdown) with a ``trial``
    column and a ``status`` or ``state`` column."""
    found: dict[str, str] = {}
    columns = None
    for line in text.splitlines():
        cells = [c.strip() for c in re.split(r"[│|┃]", line.strip().strip("|"))]
        if "trial" in cells and ("status" in cells or "state" in cells):
            columns = (cells.index("trial"), cells.index("status") if "status" in cells else cells.index("state"), len(cells))
        elif columns and len(cells) == columns[2] and re.fullmatch(r"finished|stopped|failed|killed|running", cells[columns[1]]):
            found[cells[columns[0]]] = cells[columns[1]]
    return found
