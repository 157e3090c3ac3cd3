"""Issue 13: `tfcli study confirm` retrains the top configurations with fresh seeds, as
confirmation runs under the study's parent run, and survives a SIGKILL like any study."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.integration.conftest import study_runs, study_text
from tests.integration.test_crash_windows import spawn, tfcli

pytestmark = [pytest.mark.slow, pytest.mark.timeout(500)]


def confirmations(project, name):
    parents, _ = study_runs(project, name)
    from tests.integration.conftest import store_client

    client = store_client(project)
    runs = client.search_runs([parents[0].info.experiment_id], "tags.`tfcli.role` = 'confirmation'", max_results=100)
    return parents, runs


def assert_test_scores_on_the_top_2(project):
    """Acceptance 1: the top K (2) trials by validation, and only they, carry test/bleu, equal
    to scoring the exported checkpoint on the test split; the ranking ignores them."""
    import json

    from tfcli.export import load_export
    from tfcli.metrics import MetricSettings, compute_metrics
    from tfcli.spec.load import load_spec
    from tfcli.train.prepare import load_splits

    report = json.loads(tfcli(project, "report", "conf", "--format", "json", "--no-importance").stdout)
    ranked = report["ranked"]
    assert len(ranked) == 4
    assert [r["trial_id"] for r in ranked if "test/bleu" in r["metrics"]] == [r["trial_id"] for r in ranked[:2]]
    values = [r["value"] for r in ranked]
    assert values == sorted(values, reverse=True), "ranked by validation, not by test"
    exported = tfcli(project, "export", "conf", "--out", "best")
    assert exported.returncode == 0, exported.stderr
    model = load_export(project / "best")
    spec = load_spec(project / "c.yaml")
    test = load_splits(spec).test
    predictions = model.predict([e.source for e in test])
    scores = compute_metrics("translation", predictions, [[e.target] for e in test], MetricSettings.from_eval(spec.eval)).scores
    assert abs(scores["bleu"] - ranked[0]["metrics"]["test/bleu"]) < 1e-9
    assert abs(scores["chrf"] - ranked[0]["metrics"]["test/chrf"]) < 1e-9


#: One configuration that learns (lr 1e-2) and three that learn nothing (the spec refuses lr 0):
#: the top 2 are the learner and one that learns nothing, which confirm must tell apart.
#: (Written with a dot: YAML reads 1e-9 as a string.)
GOOD_LR, ZERO_LRS = 1.0e-2, [1.0e-9, 2.0e-9, 3.0e-9]
LR_GRID = """\
    train.lr: {values: [1.0e-2, 1.0e-9, 2.0e-9, 3.0e-9]}"""


def confirm_study_text() -> str:
    """Four trials (a grid over train.lr) of 60 steps, objective chrF: in 60 steps lr 1e-2
    reaches chrF 15-20 on every seed, while BLEU on 16 validation examples still swings by
    seed (0-10), too much for Welch's test on 3 seeds to be sure of."""
    text = study_text("conf", method="grid", samples=1, steps=60, parameters=LR_GRID, scheduler="{type: fifo}", test_top=2)
    return text.replace("\nscheduler:", "\nobjective: {metric: chrf, mode: max}\nscheduler:")


def assert_the_winner_holds(project):
    """Acceptance 3: a trained configuration against one that learns nothing: 'holds', p < 0.05."""
    import json

    report = tfcli(project, "report", "conf", "--format", "json", "--no-importance")
    assert report.returncode == 0, report.stderr
    data = json.loads(report.stdout)
    block, best = data["confirmed"], data["ranked"][0]
    assert block is not None, "the report has no confirmed block after `tfcli study confirm`"
    assert (block["metric"], block["mode"]) == ("chrf", "max")
    assert best["config"]["train.lr"] == GOOD_LR, best["config"]
    assert block["winner"] == best["trial_id"]
    configs = {c["trial_id"]: c for c in block["configs"]}
    assert len(configs) == 2 and all(c["seeds"] == [2, 3, 4] and c["valid"]["n"] == 3 for c in configs.values()), configs
    assert configs[block["winner"]]["config"]["train.lr"] == GOOD_LR
    (other,) = [c for c in configs.values() if c["trial_id"] != block["winner"]]
    assert other["config"]["train.lr"] in ZERO_LRS
    assert configs[block["winner"]]["valid"]["mean"] > other["valid"]["mean"] + 5, configs
    assert block["verdict"] == "holds" and block["new_winner"] is None, block
    assert block["verdict_text"].startswith("the winner holds"), block["verdict_text"]
    (comparison,) = block["comparisons"]
    assert comparison["other"] == other["trial_id"]
    assert comparison["welch"]["p_value"] < 0.05, comparison
    assert comparison["bootstrap"] is not None, comparison["note"]
    assert comparison["bootstrap"]["p_value"] < 0.05, comparison
    assert comparison["bootstrap"]["diff"] > 0, "the bootstrap's difference is winner - other"


def test_confirm_top_2_with_3_seeds_survives_sigkill(project):
    (project / "c.yaml").write_text(confirm_study_text())
    started = tfcli(project, "study", "start", "c.yaml")
    assert started.returncode == 0, started.stdout + started.stderr
    assert_test_scores_on_the_top_2(project)

    proc = spawn(project, "study", "confirm", "conf", "--top", "2", "--seeds", "3")
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            if [r for r in confirmations(project, "conf")[1] if r.info.status == "FINISHED"]:
                break
            time.sleep(0.5)
        else:
            raise AssertionError(f"no confirmation run finished in time:\n{proc.stdout.read() if proc.poll() is not None else ''}")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    done_before = {r.info.run_id: r.info.end_time for r in confirmations(project, "conf")[1] if r.info.status == "FINISHED"}

    again = tfcli(project, "study", "confirm", "conf", "--top", "2", "--seeds", "3")
    assert again.returncode == 2 and "tfcli study resume conf" in again.stderr, again.stdout + again.stderr
    resumed = tfcli(project, "study", "resume", "conf")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr

    parents, runs = confirmations(project, "conf")
    assert len(parents) == 1
    assert len(runs) == 6 and all(r.info.status == "FINISHED" for r in runs), [r.info.status for r in runs]
    assert all(r.data.tags["mlflow.parentRunId"] == parents[0].info.run_id for r in runs)
    pairs = {(r.data.tags["tfcli.confirms"], r.data.tags["tfcli.confirm_seed"]) for r in runs}
    assert len(pairs) == 6 and len({trial for trial, _ in pairs}) == 2, pairs
    for run_id, end_time in done_before.items():
        assert next(r for r in runs if r.info.run_id == run_id).info.end_time == end_time, "a finished confirmation ran again"
    assert len(study_runs(project, "conf")[1]) == 4, "confirmation runs are not trials"
    assert all("test/bleu" in r.data.metrics for r in runs), "confirmation runs are scored on test when they end"

    repeated = tfcli(project, "study", "confirm", "conf", "--top", "2", "--seeds", "3")
    assert repeated.returncode == 0 and "already has these 6" in repeated.stdout, repeated.stdout + repeated.stderr
    assert_the_winner_holds(project)


def test_confirm_refuses_bad_input_in_one_line(project):
    unknown = tfcli(project, "study", "confirm", "nope")
    assert unknown.returncode == 2 and len(unknown.stderr.strip().splitlines()) == 1, unknown.stderr
    assert "no study named 'nope'" in unknown.stderr
