"""Issue 14: `tfcli export --where` picks the best trial by the first objective among the
trials that pass, with the report's --where syntax and parser, and says so when none passes."""

from __future__ import annotations

import json
import types

import pytest

from tests.report.conftest import synthetic_study
from tests.tracking.test_tracking import _empty_store_db, store  # noqa: F401 - fixtures
from tfcli.errors import ExportError
from tfcli.export.choose import choose_trial
from tfcli.records import TrialRecord, TrialStatus
from tfcli.report.ranking import ReportError, parse_where

pytestmark = pytest.mark.timeout(120)


def trial(n, bleu, ms, status=TrialStatus.FINISHED, checkpoint=True):
    return TrialRecord(
        study="s", study_id="x", trial_id=f"t_{n:05d}", run_id=f"run{n}", status=status, number=n,
        params={"model.d_model": 16 * (n + 1)}, config={"model.d_model": 16 * (n + 1)},
        metrics={"bleu": bleu, "decode_ms_per_example": ms}, objective_metric="bleu", objective_mode="max",
        objective_value=bleu, objective_step=20, checkpoint_uri="checkpoint" if checkpoint else None,
    )


RECORDS = [trial(0, 30.0, 9.0), trial(1, 25.0, 4.0), trial(2, 22.0, 2.0), trial(3, 40.0, 1.0, status=TrialStatus.FAILED)]


def test_the_best_by_the_first_objective_among_those_that_pass():
    assert choose_trial(RECORDS, study="s").trial_id == "t_00000"
    assert choose_trial(RECORDS, study="s", where=[parse_where("decode_ms_per_example<5")]).trial_id == "t_00001"
    both = [parse_where("decode_ms_per_example<5"), parse_where("model.d_model>=48")]
    assert choose_trial(RECORDS, study="s", where=both).trial_id == "t_00002"


def test_none_passes_is_one_clear_error():
    with pytest.raises(ExportError) as err:
        choose_trial(RECORDS, study="s", where=[parse_where("decode_ms_per_example<1")])
    text = str(err.value)
    assert "decode_ms_per_example<1" in text and "none of the 3 finished trials" in text and "\n" not in text
    with pytest.raises(ReportError, match="a --where key must be"):
        choose_trial(RECORDS, study="s", where=[parse_where("nope<1")])
    with pytest.raises(ExportError, match="not both"):
        choose_trial(RECORDS, study="s", trial="1", where=[parse_where("decode_ms_per_example<5")])


def test_export_uses_the_reports_parser():
    import tfcli.cli.export as cli_export

    source = open(cli_export.__file__).read()
    assert "from tfcli.report.ranking import parse_where" in source and "_CONDITION" not in source


@pytest.fixture
def study(store):  # noqa: F811
    from tfcli import tracking as tr

    trials = [
        {"status": "FINISHED", "config": {"model.d_model": 16}, "history": {"bleu": [(20, 30.0)], "decode_ms_per_example": [(20, 9.0)]}, "objective_value": 30.0, "objective_step": 20},
        {"status": "FINISHED", "config": {"model.d_model": 32}, "history": {"bleu": [(20, 25.0)], "decode_ms_per_example": [(20, 4.0)]}, "objective_value": 25.0, "objective_step": 20},
    ]
    synthetic_study(store, "ew", trials)
    client = store.client()
    for record in tr.load_study(store, "ew").trials:
        client.set_tag(record.run_id, tr.TAG_CHECKPOINT, "checkpoint")
    return store


def test_cli_where_exports_the_trial_that_passes(cli, study, monkeypatch, tmp_path):
    import tfcli.export

    calls = []

    def fake_export(tracking, name, out, **kwargs):
        calls.append(kwargs)
        record = types.SimpleNamespace(trial_id=kwargs["trial"])
        config = {"provenance": {"study": name, "trial_id": kwargs["trial"], "run_id": "r", "step": 20, "objective": {"metric": "bleu"}},
                  "metrics": {"values": {"bleu": 25.0}}}
        return types.SimpleNamespace(path=out, record=record, config=config, chosen_by="the named trial")

    monkeypatch.setattr(tfcli.export, "export_study", fake_export)
    result = cli("export", "ew", "--out", tmp_path / "out", "--where", "decode_ms_per_example<5", "--tracking-uri", study.uri, "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert calls[0]["trial"] == "syn_00001"
    assert json.loads(result.stdout)["chosen_by"] == "the best trial where decode_ms_per_example<5"


def test_cli_where_none_passes_exits_2_with_one_line(cli, study, tmp_path):
    result = cli("export", "ew", "--out", tmp_path / "out", "-w", "decode_ms_per_example<1", "-w", "model.d_model>=16", "--tracking-uri", study.uri)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "decode_ms_per_example<1 and model.d_model>=16" in lines[0] and "none of the 2 finished trials" in lines[0]
    assert not (tmp_path / "out").exists()
    bad = cli("export", "ew", "--out", tmp_path / "out", "--where", "decode_ms_per_example~5", "--tracking-uri", study.uri)
    assert bad.exit_code == 2 and "KEY OP VALUE" in bad.stderr
