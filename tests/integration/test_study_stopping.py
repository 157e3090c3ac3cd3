"""A study that knows when to stop, end to end (real Ray, the real trainable, a real MLflow
store): ``budget.target`` and ``budget.patience`` end a study early with the reason on the
parent run and in the summary, and ``extend`` continues it. The stopper's rules one by one:
tests/study/test_stopping.py."""

from __future__ import annotations

import json

import pytest

from tests.integration.conftest import study_runs, study_text

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def _start(cli, project, text):
    (project / "s.yaml").write_text(text)
    result = cli("study", "start", "s.yaml", "--format", "json")
    assert result.exit_code == 0, result.output + result.stderr
    return json.loads(result.stdout), result.stderr


def _by_number(children):
    return sorted(children, key=lambda c: int(c.data.tags["tfcli.trial_number"]))


def test_a_target_ends_the_study_and_extend_runs_the_trials_asked_for(project, ray_session, cli):
    """Validation loss <= 50 is reached at the first evaluation: the study ends there, with at
    most the two running trials of six, cut short as stopped for the target. Extending it after
    that runs both extra trials to the end: the user asked for them knowing the target was met."""
    text = study_text("tgt", samples=6, scheduler="{type: fifo}").replace(
        "budget: {max_failures: 0}", "budget: {max_failures: 0, target: {metric: loss, value: 50}}"
    )
    summary, stderr = _start(cli, project, text)
    assert summary["stopped_early"].startswith("target loss <= 50 reached ("), summary
    assert "Study ends early: target loss <= 50 reached" in stderr
    assert summary["trials"] <= 2 and summary["states"]["killed"] == summary["states"]["failed"] == 0, summary
    (parent,), children = study_runs(project, "tgt")
    assert parent.info.status == "FINISHED" and len(children) == summary["trials"]
    assert parent.data.tags["tfcli.study_stopped"] == "target"
    assert parent.data.tags["tfcli.study_stop_note"] == summary["stopped_early"]
    for child in children:  # cut short: stopped for the target; a trial that had reached its end: finished
        cut = int(child.data.tags.get("tfcli.last_step", 0)) < 20
        assert child.data.tags["tfcli.state"] == ("stopped" if cut else "finished"), child.data.tags
        assert child.data.tags.get("tfcli.stop_reason") == ("target" if cut else None)
    states = [c.data.tags["tfcli.state"] for c in children]
    assert (summary["states"]["stopped"], summary["states"]["finished"]) == (states.count("stopped"), states.count("finished"))

    extended = cli("study", "extend", "tgt", "--num-samples", "2", "--format", "json")
    assert extended.exit_code == 0, extended.output + extended.stderr
    more = json.loads(extended.stdout)
    assert more["stopped_early"] is None and more["states"]["finished"] == 2, more
    (parent,), after = study_runs(project, "tgt")
    assert len(after) == len(children) + 2 and "tfcli.study_stopped" not in parent.data.tags


def test_patience_ends_the_study_and_counts_from_an_extension(project, ray_session, cli):
    """One trial at a time; the first three are known points, the good learning rate first:
    the next two do not beat it, so patience 2 ends the study before its five trials."""
    text = (
        study_text("pat", samples=5, scheduler="{type: fifo}", parameters="    train.lr: {values: [3.0e-3, 1.0e-7, 2.0e-7]}")
        .replace("  max_concurrent: 2\n", "  max_concurrent: 1\n")
        .replace("  seed: 5\n", "  seed: 5\n  initial: [{train.lr: 3.0e-3}, {train.lr: 1.0e-7}, {train.lr: 2.0e-7}]\n")
        .replace("budget: {max_failures: 0}", "budget: {max_failures: 0, patience: 2}")
    )
    summary, _ = _start(cli, project, text)
    assert summary["stopped_early"].startswith("patience: 2 trials in a row ended without a better bleu"), summary
    (parent,), children = study_runs(project, "pat")
    assert parent.data.tags["tfcli.study_stopped"] == "patience"
    ordered = _by_number(children)
    assert [float(c.data.params["train.lr"]) for c in ordered[:3]] == [3.0e-3, 1.0e-7, 2.0e-7]
    assert [c.data.tags["tfcli.state"] for c in ordered[:3]] == ["finished"] * 3
    assert len(ordered) <= 4 and all(c.data.tags["tfcli.stop_reason"] == "patience" for c in ordered[3:])

    # Patience counts from the extension, against the study's best so far: had it carried the
    # two trials without a better best over, the extension would end after its first trial.
    extended = cli("study", "extend", "pat", "--num-samples", "3", "--format", "json")
    assert extended.exit_code == 0, extended.output + extended.stderr
    more = json.loads(extended.stdout)
    assert more["states"]["finished"] >= 2 and more["states"]["killed"] == more["states"]["failed"] == 0, more
    (parent,), after = study_runs(project, "pat")
    assert parent.data.tags.get("tfcli.study_stop_note") == more["stopped_early"]
