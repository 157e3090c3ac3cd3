"""Issue 24, acceptance 2: one choice of "the best". Trials that tie in the objective (equal
accuracy, as small validation sets often give) but differ in validation loss and step: the
report's rank 1, ``study best``, ``export`` (both ``--by`` modes) and the parent run's best
tag name the same trial, the one :func:`tfcli.spec.objective.outranks` prefers (lower loss,
then the earlier step), not the first one started.

The store is written by the real study callback (:class:`~tfcli.tracking.callback.StudyTracker`,
what Ray's callback drives) from hand-made results; every checkpoint is a copy of a real one,
trained here without Ray, so ``export`` writes a real export folder.
"""

from __future__ import annotations

import json
import shutil
from contextlib import contextmanager
from types import SimpleNamespace

import pytest

from tfcli import tracking as tr
from tfcli.spec.load import load_spec_text
from tfcli.spec.objective import Objective
from tfcli.tracking.callback import StudyTracker

pytestmark = pytest.mark.timeout(300)

NAME = "ties"
STUDY = f"""\
name: {NAME}
task: {{type: classification, data: 'builtin:sentiment'}}
model: {{d_model: 16, heads: 2, encoder_layers: 1, ffn_dim: 32}}
train: {{lr: 3.0e-3, warmup_steps: 2, batch_tokens: 512, max_steps: 20, eval_every: 10, seed: 3}}
data: {{vocab_size: 200, train_size: 64, valid_size: 16, test_size: 16}}
objective: {{metric: accuracy, mode: max}}
search:
  method: grid
  parameters:
    train.lr: {{values: [1.0e-3, 2.0e-3, 3.0e-3, 4.0e-3]}}
"""

#: Each trial's evaluations as (step, accuracy, validation loss), in the order the trials start.
#: t0, t1 and t2 tie at 0.75: t1 and t2 have the lower loss, and t2 reached it earlier (step
#: 10, its best checkpoint; its step 20 ties too but with a higher loss). t0 started first.
TRIALS = {
    "ties_00000": [(10, 0.5, 0.70), (20, 0.75, 0.60)],
    "ties_00001": [(10, 0.5, 0.65), (20, 0.75, 0.40)],
    "ties_00002": [(10, 0.75, 0.40), (20, 0.75, 0.45)],
    "ties_00003": [(10, 0.5, 0.30), (20, 0.625, 0.20)],
}
WINNER = "ties_00002"


class Checkpoint:
    def __init__(self, path):
        self.path = str(path)

    @contextmanager
    def as_directory(self):
        yield self.path


class Trial:
    """The parts of a Ray trial the callback reads."""

    def __init__(self, trial_id: str, config: dict):
        self.trial_id, self.config = trial_id, dict(config)
        self.experiment_tag, self.error_file = f"0_{trial_id}", None
        self.run_metadata = SimpleNamespace(checkpoint_manager=SimpleNamespace(_checkpoint_results=[], latest_checkpoint_result=None))


@pytest.fixture
def real_checkpoint(tmp_path):
    """One real checkpoint of a tiny classifier, trained without Ray."""
    from tfcli.train.loop import Trainer

    spec = load_spec_text(STUDY.replace("max_steps: 20", "max_steps: 10"), str(tmp_path / "s.yaml"))
    return Trainer(spec, tmp_path / "train").fit().best.checkpoint


def write_study(project, checkpoint) -> StudyTracker:
    spec = load_spec_text(STUDY, str(project / "s.yaml"))
    tracking = tr.check_tracking(tr.resolve_tracking(None, cwd=project))
    tracker = StudyTracker(tracking, spec, "ties-id")
    tracker.setup()
    for n, (trial_id, evaluations) in enumerate(TRIALS.items()):
        trial = Trial(trial_id, {"train.lr": (n + 1) * 1e-3})
        tracker.on_trial_start(trial=trial)
        manager = trial.run_metadata.checkpoint_manager
        for step, accuracy, loss in evaluations:
            result = {"step": step, "accuracy": accuracy, "loss": loss, "training_iteration": step // 10, "trial_id": trial_id, "done": step == 20}
            folder = project / "ray" / trial_id / f"checkpoint_{step}"
            shutil.copytree(checkpoint, folder)
            manager._checkpoint_results.append(SimpleNamespace(checkpoint=Checkpoint(folder), metrics=dict(result)))
            manager.latest_checkpoint_result = manager._checkpoint_results[-1]
            tracker.on_trial_result(trial=trial, result=result)
        tracker.on_trial_complete(trial=trial)
    tracker.on_experiment_end(trials=[])
    return tracker


def test_the_preferred_trial_is_the_one_outranks_prefers():
    objective = Objective("accuracy", "max")
    bests = {tid: objective.best(evals, key=lambda e: (e[1], e[2], e[0])) for tid, evals in TRIALS.items()}
    assert objective.best(bests.items(), key=lambda item: (item[1][1], item[1][2], item[1][0]))[0] == WINNER


def test_report_study_best_export_and_the_parent_run_name_the_same_trial(project, cli, real_checkpoint):
    tracker = write_study(project, real_checkpoint)
    parent = tracker.tracking.client().get_run(tracker.parent_run_id)
    assert parent.data.tags[tr.TAG_BEST_TRIAL] == WINNER

    report = cli("report", NAME, "--format", "json", "--no-significance")
    assert report.exit_code == 0, report.output + report.stderr
    ranked = json.loads(report.stdout)["ranked"]
    assert [row["trial_id"] for row in ranked[:3]] == [WINNER, "ties_00001", "ties_00000"]
    assert ranked[0]["step"] == 10

    best = cli("study", "best", NAME, "--format", "json")
    assert best.exit_code == 0, best.output + best.stderr
    assert json.loads(best.stdout)["trial_id"] == WINNER

    for by in ("auto", "best-trial"):
        out = project / f"export-{by}"
        exported = cli("export", NAME, "--out", str(out), "--by", by, "--format", "json")
        assert exported.exit_code == 0, exported.output + exported.stderr
        summary = json.loads(exported.stdout)
        assert (summary["trial_id"], summary["step"]) == (WINNER, 10), by
