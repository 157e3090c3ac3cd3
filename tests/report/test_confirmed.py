"""Issue 13: the confirmed block: per configuration across seeds, the winner against the
others (Welch and the two-level bootstrap), and the verdict."""

from __future__ import annotations

import pytest

from tfcli.records import Confirmation, TrialRecord, TrialStatus
from tfcli.report.confirmed import confirmed_block

pytestmark = pytest.mark.timeout(60)

REFS = ["2046 - 05 - 06", "1994 - 03 - 03", "2001 - 12 - 31", "1980 - 01 - 02"]


def run(trial, seed, value, predictions=None, test=None):
    record = TrialRecord(
        study="s", study_id="x", trial_id=f"c{trial}{seed}", run_id=f"r{trial}{seed}", status=TrialStatus.FINISHED,
        config={"train.lr": 1e-3 if trial == "a" else 0.0, "train.seed": seed}, objective_metric="bleu", objective_mode="max",
        objective_value=value, metrics={"test/bleu": test} if test is not None else {},
    )
    outputs = [{"index": i, "reference": r, "prediction": p} for i, (r, p) in enumerate(zip(REFS, predictions or REFS))]
    return Confirmation(record=record, confirms=trial, seed=seed), outputs


def block(runs, winner="a", mode="max", metric="bleu"):
    outputs = {c.record.run_id: o for c, o in runs}
    return confirmed_block(
        [c for c, _ in runs], winner=winner, metric=metric, mode=mode, task="translation",
        outputs_of=lambda c: outputs[c.record.run_id],
    )


def test_identical_configurations_are_a_tie():
    runs = [run("a", s, 40.0 + s) for s in (1, 2, 3)] + [run("b", s, 40.0 + s) for s in (1, 2, 3)]
    result = block(runs)
    assert result.verdict == "tie" and result.comparisons[0].welch["p_value"] == pytest.approx(1.0)
    assert result.comparisons[0].bootstrap["p_value"] == 1.0


def test_a_trained_configuration_against_learning_rate_0_holds():
    wrong = ["0 - 0 - 0"] * 4
    runs = [run("a", s, v, test=v - 1) for s, v in ((1, 98.0), (2, 97.0), (3, 99.5))]
    runs += [run("b", s, v, wrong) for s, v in ((1, 0.0), (2, 0.4), (3, 0.1))]
    result = block(runs)
    assert result.verdict == "holds", result.to_dict()
    assert result.comparisons[0].welch["p_value"] < 0.05
    assert result.comparisons[0].bootstrap["diff"] > 0, "winner - other"
    a = next(c for c in result.configs if c.trial_id == "a")
    assert a.valid.mean == pytest.approx((98 + 97 + 99.5) / 3) and a.test.mean == pytest.approx((97 + 96 + 98.5) / 3)
    assert a.seeds == [1, 2, 3] and "train.seed" not in a.config


def test_the_winner_changes_when_another_configuration_is_better_across_seeds():
    runs = [run("a", s, v) for s, v in ((1, 20.0), (2, 21.0), (3, 19.5))]
    runs += [run("b", s, v) for s, v in ((1, 40.0), (2, 41.0), (3, 39.0))]
    result = block(runs)
    assert (result.verdict, result.new_winner) == ("changes", "b")
    assert result.best_confirmed.trial_id == "b"
    assert "b is better across seeds" in result.sentence()


def test_an_objective_not_computed_from_outputs_gets_welch_and_a_note_instead_of_a_bootstrap():
    runs = [run("a", s, v) for s, v in ((1, 0.5), (2, 0.6), (3, 0.55))]
    runs += [run("b", s, v) for s, v in ((1, 2.0), (2, 2.1), (3, 1.9))]
    result = block(runs, mode="min", metric="loss")
    assert result.verdict == "holds" and result.comparisons[0].welch["p_value"] < 0.05
    assert result.comparisons[0].bootstrap is None


def test_no_block_without_two_finished_runs_of_a_configuration():
    assert block([run("a", 1, 30.0)]) is None


def test_the_html_plots_show_error_bars_and_validation_against_test():
    import types

    from tfcli.report.html import confirmed_error_bars, validation_against_test
    from tfcli.report.ranking import Row

    runs = [run("a", s, v, test=v - 1) for s, v in ((1, 98.0), (2, 97.0), (3, 99.5))]
    runs += [run("b", s, v, test=v) for s, v in ((1, 10.0), (2, 12.0), (3, 11.0))]
    result = block(runs)
    figure = confirmed_error_bars(types.SimpleNamespace(confirmed=result))
    assert [t.name for t in figure.data] == ["valid", "test"]
    assert all(t.error_y.array[0] > 0 for t in figure.data) and "holds" in figure.layout.title.text

    rows = [Row(c.record, c.record.objective_value, 10, rank=i + 1) for i, (c, _) in enumerate(runs[:2])]
    scatter = validation_against_test(types.SimpleNamespace(metric="bleu", all_ranked=rows, ranking=None))
    assert list(scatter.data[0].x) == [98.0, 97.0] and list(scatter.data[0].y) == [97.0, 96.0]
