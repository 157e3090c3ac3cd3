"""Without a terminal, a study and a training run print one flushed line per event (issue 17)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time

import pytest

from tfcli.records import TrialState, TrialStatus

pytestmark = pytest.mark.timeout(300)

STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d "


def plain_study(total=3, every_s=3600.0):
    from rich.console import Console

    from tests.study.conftest import make_spec
    from tfcli.cli.study_live import StudyLive

    os.environ["TFCLI_STATUS_EVERY_S"] = str(every_s)
    try:
        screen = Console(width=300, record=True, force_terminal=False)
        spec = make_spec(search={"parameters": {"train.lr": {"distribution": "log_uniform", "min": 1e-4, "max": 1e-2}}})
        return screen, StudyLive(screen, spec, total=total)
    finally:
        del os.environ["TFCLI_STATUS_EVERY_S"]


def test_each_trial_event_is_one_plain_line():
    screen, live = plain_study()
    with live:
        live.on_trial_state("t1", TrialState.RUNNING)
        live.on_result("t1", {"step": 10, "bleu": 2.5, "config": {"train.lr": 0.001}})
        live.on_result("t1", {"step": 20, "bleu": 1.5})
        live.on_trial_state("t1", TrialState.STOPPED)
        live.on_trial_state("t2", TrialState.RUNNING)
        live.on_result("t2", {"step": 3, "bleu": float("-inf"), "tfcli_failure": "diverged",
                              "tfcli_failure_message": "DivergedError: training diverged at step 3"})
        live.on_trial_state("t2", TrialState.FAILED)
        status = live.lines.status()
    lines = [line for line in screen.export_text().splitlines() if re.match(STAMP, line)]
    texts = [line[20:] for line in lines]
    assert texts == [
        "trial t1 started",
        "trial t1 config: train.lr=0.001",
        "trial t1 step 10: bleu 2.500 (best 2.500)",
        "trial t1 step 20: bleu 1.500 (best 2.500)",
        "trial t1 stopped at step 20: best bleu 2.500",
        "trial t2 started",
        "trial t2 failed at step 3: DivergedError: training diverged at step 3",
    ]
    assert status.startswith("status: 1 stopped, 1 failed, 1 not started; 2/3 trials done"), status
    assert "best bleu 2.500 (t1)" in status
    assert "\x1b[" not in screen.export_text(styles=True).split("trial t2 failed")[0]


def test_the_status_line_comes_every_interval_while_nothing_happens():
    screen, live = plain_study(every_s=0.1)
    with live:
        live.on_trial_state("t1", TrialState.RUNNING)
        time.sleep(0.5)
    status = [line for line in screen.export_text().splitlines() if line[20:].startswith("status: 1 running, 2 not started")]
    assert len(status) >= 2


def test_a_resumed_trial_starts_again_with_its_configuration():
    from tfcli.records import TrialRecord

    screen, live = plain_study()
    live.show_records([TrialRecord(study="tiny", study_id="s", trial_id="t3", run_id="r", status=TrialStatus.KILLED,
                                   config={"train.lr": 0.003}, objective_value=None, last_step=40)])
    with live:
        live.on_trial_state("t3", TrialState.RUNNING)
    assert "trial t3 started again at step 40: train.lr=0.003" in screen.export_text()


def test_on_a_terminal_no_plain_lines():
    from rich.console import Console

    from tests.study.conftest import make_spec
    from tfcli.cli.study_live import StudyLive

    screen = Console(width=200, record=True, force_terminal=True)
    live = StudyLive(screen, make_spec(), total=1)
    assert live.lines is None


def spawn(cwd, *args, env_extra=None):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "160", **(env_extra or {})}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.Popen(
        [sys.executable, "-m", "tfcli", *map(str, args)], cwd=cwd, env=env, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def read_while_running(proc, timeout: float) -> tuple[list[str], list[str]]:
    """(lines read before the process exited, all lines)."""
    before, lines = [], []
    done = threading.Event()

    def reader():
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if proc.poll() is None:
                before.append(lines[-1])
        done.set()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
    done.wait(30)
    return before, lines


@pytest.mark.slow
def test_study_start_through_a_pipe_prints_its_events_as_they_happen(project):
    from tests.integration.conftest import study_text

    (project / "s.yaml").write_text(study_text("piped", samples=2, steps=20, scheduler="{type: fifo}"))
    proc = spawn(project, "study", "start", "s.yaml", "--no-baselines", env_extra={"TFCLI_STATUS_EVERY_S": "1"})
    before, lines = read_while_running(proc, 280)
    assert proc.returncode == 0, "\n".join(lines)
    events = [line[20:] for line in before if re.match(STAMP, line)]
    started = {m.group(1) for e in events if (m := re.match(r"trial (\S+) started", e))}
    assert len(started) == 2, lines
    for trial in started:
        evaluations = [e for e in events if re.match(rf"trial {trial} step (10|20): bleu [\d.]+ \(best [\d.]+\)$", e)]
        assert len(evaluations) == 2, lines
        assert any(re.match(rf"trial {trial} finished at step 20", e) for e in events), lines
        assert any(re.match(rf"trial {trial} started: train\.lr=", e) for e in events), lines
    assert any(e.startswith("status: ") for e in events), lines
    assert any(line.startswith("piped: 2 finished") for line in lines)

    # Issue 24: every event line names its trial by the number the report shows, and the
    # start line gives Ray's id beside it (where Ray's logs are found).
    report = subprocess.run([sys.executable, "-m", "tfcli", "report", "piped", "--format", "json", "--no-significance",
                             "--no-importance"], cwd=project, capture_output=True, text=True, timeout=120)
    assert report.returncode == 0, report.stderr
    rows = json.loads(report.stdout)["ranked"]
    ray_ids = {str(row["number"]): row["trial_id"] for row in rows}
    assert started == set(ray_ids), (started, ray_ids)
    trial_events = [e for e in events if e.startswith("trial ")]
    assert trial_events and all(re.match(r"trial (\S+) ", e).group(1) in ray_ids for e in trial_events), trial_events
    for number, ray_id in ray_ids.items():
        assert any(re.match(rf"trial {number} started: train\.lr=.* \(Ray trial {ray_id}\)$", e) for e in events), [e for e in events if " started" in e]


def test_train_through_a_pipe_prints_its_step_lines(tmp_path):
    from tests.train.conftest import tiny_spec_text

    (tmp_path / "tiny.yaml").write_text(tiny_spec_text("classification"))
    proc = spawn(tmp_path, "train", "tiny.yaml", "--set", "train.max_steps=6", "--set", "train.eval_every=3",
                 "--set", "train.log_every=2", "--no-test")
    before, lines = read_while_running(proc, 280)
    assert proc.returncode == 0, "\n".join(lines)
    steps = [line[20:] for line in before if re.match(STAMP + r"step \d+/6: loss [\d.]+, [\d,]+ tok/s, lr ", line)]
    assert [s.split(":")[0] for s in steps] == ["step 2/6", "step 4/6", "step 6/6"], lines
    assert any(re.match(STAMP + r"step 3: accuracy ", line) for line in before), lines
