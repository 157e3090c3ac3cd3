"""HyperBand trials that reach their bracket's last milestone together (issue 24, item 9).

Tune's HyperBand stops the paused trials of a bracket when its last trial reaches the last
milestone, but not a trial whose pause is still being saved at that moment: that one stays
PAUSED and ``fit()`` waits for ever (see :mod:`tfcli.study.hyperband`). The fake trials here
report each step in lockstep, so their last results reach the driver together and the race
is hit in most runs (6 of 8 hung without the fix, on a loaded machine).
"""

from __future__ import annotations

import time

import pytest

from tests.study import fakes
from tests.study.conftest import make_spec
from tfcli.study.hyperband import SettledHyperBand, settled
from tfcli.study.runner import run_study
from tfcli.study.space import make_scheduler

LR = {"train.lr": {"distribution": "log_uniform", "min": 1e-4, "max": 1e-2}}


def test_only_tunes_hyperband_is_settled():
    spec = make_spec(scheduler={"type": "hyperband"})
    scheduler = settled(make_scheduler(spec, "bleu", "max"))
    assert type(scheduler) is SettledHyperBand
    for kind in ("asha", "fifo"):
        other = make_scheduler(make_spec(scheduler={"type": kind}), "bleu", "max")
        assert settled(other) is other and type(other) is not SettledHyperBand


@pytest.mark.slow
@pytest.mark.timeout(150)
@pytest.mark.parametrize("attempt", [1, 2, 3])
def test_hyperband_trials_that_reach_the_last_milestone_together_end(ray_session, tmp_path, attempt):
    (tmp_path / "lockstep").write_text("2")
    spec = make_spec(tmp_path, search={"num_samples": 2, "max_concurrent": 2, "parameters": LR}, scheduler={"type": "hyperband"})
    start = time.monotonic()
    outcome = run_study(spec, fakes.fake_trainable, storage=str(tmp_path / "ray"), callbacks=[], study_id="test")
    assert len(outcome.trials) == 2 and outcome.finished == 2 and outcome.errored == outcome.failed == 0
    assert not outcome.resumable
    assert time.monotonic() - start < 180
