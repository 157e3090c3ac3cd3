"""Issue 24, acceptance 5 (the direction half): a metric's direction lives in one place.

Every comparison of a mode with ``"max"`` or ``"min"``, and every translation to Optuna's
``maximize``/``minimize``, is in :mod:`tfcli.spec.objective`; everything else asks its
:class:`~tfcli.spec.objective.Objective`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import tfcli
from tfcli.spec.objective import Objective, objectives, primary_objective, scheduler_objective

pytestmark = pytest.mark.timeout(30)

PACKAGE = Path(tfcli.__file__).parent
HOME = PACKAGE / "spec" / "objective.py"
#: ``== "max"``, ``!= 'min'``, ``"min" == x`` and ``"maximize" if``: a direction decided inline.
INLINE = re.compile(r"""(==|!=)\s*["'](max|min)["']|["'](max|min)["']\s*(==|!=)|["'](maximize|minimize)["']\s+if\b""")


def inline_directions(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        if path == HOME:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if INLINE.search(line):
                found.append(f"{path.relative_to(root.parent)}:{number}: {line.strip()}")
    return found


def test_no_direction_is_decided_outside_the_objective_type():
    assert inline_directions(PACKAGE) == []


def test_the_check_finds_an_inline_direction(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "a.py").write_text('sign = 1.0 if mode == "max" else -1.0\nstudy = create(direction="maximize" if up else "minimize")\n')
    (package / "b.py").write_text('ok = objective.sign\n')
    assert [line.split(":")[0] for line in inline_directions(package)] == ["pkg/a.py", "pkg/a.py"]


def test_the_objective_type():
    up, down = Objective("bleu", "max"), Objective("ter", "min")
    assert (up.direction, down.direction) == ("maximize", "minimize")
    assert (up.worst, down.worst) == (float("-inf"), float("inf"))
    assert up.better(2.0, 1.0) and down.better(1.0, 2.0) and not up.better(float("nan"), 1.0) and up.better(0.0, None)
    assert up.margin(3.0, 1.0) == 2.0 and down.margin(3.0, 1.0) == -2.0
    assert Objective.natural("ter") == down
    with pytest.raises(Exception, match="--mode must be max or min"):
        Objective("bleu", "up")


def test_built_once_from_the_study_file():
    from tests.study.conftest import make_spec

    spec = make_spec(
        objective=[{"metric": "bleu", "mode": "max"}, {"metric": "decode_ms_per_example", "mode": "min"}],
        scheduler={"type": "asha", "metric": "loss"},
    )
    assert objectives(spec) == [Objective("bleu", "max"), Objective("decode_ms_per_example", "min")]
    assert primary_objective(spec) == Objective("bleu", "max")
    assert scheduler_objective(spec) == Objective("loss", "min")


def test_one_ranking_of_records_breaks_ties_by_loss_then_step():
    from tfcli.records import TrialRecord, TrialStatus
    from tfcli.spec.objective import rank_records, tied_records

    def record(trial_id, value, step, loss):
        return TrialRecord(
            study="s", study_id="s", trial_id=trial_id, run_id=f"run-{trial_id}", status=TrialStatus.FINISHED,
            metrics={"accuracy": value, "loss": loss}, objective_metric="accuracy", objective_mode="max",
            objective_value=value, objective_step=step, last_step=step,
        )

    records = [record("a", 0.75, 20, 0.6), record("b", 0.75, 20, 0.4), record("c", 0.75, 10, 0.4), record("d", 0.5, 10, 0.1)]
    accuracy = Objective("accuracy", "max")
    assert [r.trial_id for r in tied_records(records, "accuracy")] == ["a", "b", "c"]
    # at best, the loss at the value's step comes from the caller (the history); without it, the earlier step
    losses = {f"run-{r.trial_id}": r.metrics["loss"] for r in records}
    assert [r.trial_id for r in rank_records(records, accuracy, "best", losses)] == ["c", "b", "a", "d"]
    assert [r.trial_id for r in rank_records(records, accuracy, "best")] == ["c", "a", "b", "d"]
    # at last, the last logged loss
    assert [r.trial_id for r in rank_records(records, accuracy, "last")] == ["c", "b", "a", "d"]
    assert accuracy.best(records, key=lambda r: (float("nan"), None, None)) is None
