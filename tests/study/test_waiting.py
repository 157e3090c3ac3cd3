"""A study says what it waits for when its next trial cannot start for lack of resources."""

from __future__ import annotations

import re
import threading

import pytest

from tests.study import fakes
from tests.study.conftest import make_spec
from tfcli.study import waiting
from tfcli.study.runner import run_study
from tfcli.study.waiting import wait_reason

CPU = {"CPU": 1.0}


def test_the_normal_queue_of_a_study_is_no_wait():
    running = [("1", CPU), ("2", CPU)]
    assert wait_reason("3", CPU, running, {"CPU": 0.0}, {"CPU": 2.0}) is None
    assert wait_reason("3", CPU, [("1", CPU)], {"CPU": 1.0}, {"CPU": 2.0}) is None  # room: it starts


def test_resources_held_outside_the_study_are_named():
    assert wait_reason("3", CPU, [("1", CPU)], {"CPU": 0.0}, {"CPU": 2.0}) == (
        "waiting for resources: trial 3 needs 1 CPU, 0 of 2 free "
        "(1 held by this study's running trial 1, 1 by other Ray work or trials still starting)"
    )
    assert wait_reason("1", {"CPU": 2.0}, [], {"CPU": 0.5}, {"CPU": 4.0}) == (
        "waiting for resources: trial 1 needs 2 CPUs, 0.5 of 4 free (3.5 by other Ray work or trials still starting)"
    )


def test_a_trial_that_needs_more_than_the_cluster_has():
    need = {"CPU": 1.0, "GPU": 1.0}
    assert wait_reason("1", need, [], {"CPU": 2.0}, {"CPU": 2.0}) == (
        "waiting for resources: trial 1 needs 1 GPU, the cluster has 0"
    )


class Listener:
    """A display that hears the notice, and frees the CPUs the hogs hold when it does."""

    def __init__(self, hogs):
        self.hogs = hogs
        self.notices: list[str] = []
        self.states: list[tuple[str, object]] = []

    def on_result(self, trial_id, result):
        pass

    def on_trial_state(self, trial_id, state, config=None, error=None):
        self.states.append((trial_id, state))

    def on_notice(self, text):
        self.notices.append(text)
        self.free()

    def free(self):
        import ray

        for hog in self.hogs:
            ray.kill(hog)


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_study_whose_cpus_are_held_elsewhere_says_so_and_runs_once_they_are_free(ray_session, tmp_path, monkeypatch):
    monkeypatch.setattr(waiting, "WAIT_NOTICE_S", 1.0)
    monkeypatch.setattr(waiting, "CHECK_EVERY_S", 0.2)

    @ray_session.remote(num_cpus=1)
    class Hog:  # what an earlier study's leftover actor, or another job, would hold
        def ready(self):
            return True

    hogs = [Hog.remote() for _ in range(2)]
    assert all(ray_session.get([h.ready.remote() for h in hogs], timeout=120))
    listener = Listener(hogs)
    spec = make_spec(tmp_path, search={"num_samples": 2})
    unstuck = threading.Timer(60, listener.free)  # without a notice the study still ends, and fails below
    unstuck.start()
    try:
        outcome = run_study(spec, fakes.fake_trainable, storage=str(tmp_path / "ray"), callbacks=[], study_id="test", progress=listener)
    finally:
        unstuck.cancel()

    assert outcome.finished == 2
    assert len(listener.notices) == 1, listener.notices
    match = re.fullmatch(
        r"waiting for resources: trial (\S+) needs 1 CPU, 0 of 2 free \(2 by other Ray work or trials still starting\)",
        listener.notices[0],
    )
    assert match and match.group(1) in {t.trial_id for t in outcome.trials}


def test_the_live_display_prints_the_notice_as_a_line():
    import io

    from rich.console import Console

    from tfcli.cli.study_live import StudyLive

    out = io.StringIO()
    live = StudyLive(Console(file=out, width=200), make_spec(), total=2)
    text = "waiting for resources: trial 1 needs 1 CPU, 0 of 2 free (2 by other Ray work or trials still starting)"
    with live:
        live.on_notice(text)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d " + re.escape(text), out.getvalue().strip())
