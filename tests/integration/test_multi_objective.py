"""Issue 14 end to end: studies with two objectives (chrf, max; decode_ms_per_example, min) on
real Ray and a real MLflow store, searched by nsga2 and by tpe (chrf rather than bleu: a
20-step model scores bleu 0 in every trial). Every child run holds both metrics; `tfcli report --format json` returns the Pareto front, which this test recomputes on
its own from the runs (MLflow's client, not tfcli's reader nor its pareto module); the HTML
page holds the Pareto plot."""

from __future__ import annotations

import json
import re

import pytest

from tests.integration.conftest import store_client, study_runs, study_text

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

OBJECTIVES = "objective: [{metric: chrf, mode: max}, {metric: decode_ms_per_example, mode: min}]\n"
PARAMETERS = """\
    train.lr: {distribution: log_uniform, min: 1.0e-3, max: 1.0e-2}
    model.d_model: {values: [16, 32]}"""


def expected_points(project, name):
    """{run id: (chrf, decode_ms_per_example)} of every finished child, each at the step of its
    best checkpoint, else the last value; straight from MLflow's history. The best checkpoint
    is the best chrf; on a tie the lower validation loss, then the earlier step (the one tie
    rule of tfcli, docs: tfcli.spec.objective.outranks)."""
    client = store_client(project)
    _, children = study_runs(project, name)
    points = {}
    for child in children:
        assert {"chrf", "decode_ms_per_example"} <= set(child.data.metrics), child.data.metrics
        if child.info.status != "FINISHED":
            continue
        chrf = client.get_metric_history(child.info.run_id, "chrf")
        loss = {m.step: m.value for m in client.get_metric_history(child.info.run_id, "loss")}
        best = max(chrf, key=lambda m: (m.value, -loss.get(m.step, float("inf")), -m.step))
        ms = [m for m in client.get_metric_history(child.info.run_id, "decode_ms_per_example") if m.step == best.step]
        points[child.info.run_id] = (best.value, ms[-1].value if ms else child.data.metrics["decode_ms_per_example"])
    return points


def ranks_of(points):
    """Non-dominated sorting, written out here: chrf larger is better, milliseconds smaller."""

    def dominates(a, b):
        return a[0] >= b[0] and a[1] <= b[1] and (a[0] > b[0] or a[1] < b[1])

    ranks, left, rank = {}, set(points), 0
    while left:
        rank += 1
        front = {k for k in left if not any(dominates(points[j], points[k]) for j in left if j != k)}
        ranks.update({k: rank for k in front})
        left -= front
    return ranks


def staircase_area(front, ref):
    """The area the front dominates up to ``ref`` (chrf up, milliseconds down)."""
    area, floor = 0.0, ref[1]
    for score, ms in sorted(front, key=lambda p: -p[0]):
        if ms < floor:
            area += (score - ref[0]) * (floor - ms)
            floor = ms
    return area


@pytest.mark.parametrize("method", ["nsga2", "tpe"])
def test_two_objective_study_reports_its_pareto_front(project, ray_session, cli, method):
    name = f"mo-{method}"
    text = study_text(name, method=method, samples=3, steps=20, parameters=PARAMETERS, scheduler="{type: fifo}") + OBJECTIVES
    (project / "s.yaml").write_text(text)
    result = cli("study", "start", "s.yaml", "--no-baselines")
    assert result.exit_code == 0, result.output + result.stderr
    points = expected_points(project, name)
    assert len(points) == 3

    report = cli("report", name, "--format", "json", "--no-significance")
    assert report.exit_code == 0, report.stderr
    pareto = json.loads(report.stdout)["pareto"]
    assert pareto["objectives"] == [{"metric": "chrf", "mode": "max"}, {"metric": "decode_ms_per_example", "mode": "min"}]
    got = {t["run_id"]: t for t in pareto["trials"]}
    assert set(got) == set(points)
    for run_id, (score, ms) in points.items():
        assert got[run_id]["values"] == {"chrf": pytest.approx(score), "decode_ms_per_example": pytest.approx(ms)}
    ranks = ranks_of(points)
    assert {k: t["rank"] for k, t in got.items()} == ranks
    assert [t["rank"] for t in pareto["trials"]] == sorted(t["rank"] for t in pareto["trials"])  # front 1 first
    # the reference point: each objective's worst value, 10% of its range further towards worse
    scores, mss = [p[0] for p in points.values()], [p[1] for p in points.values()]
    span_s, span_m = max(scores) - min(scores), max(mss) - min(mss)
    ref = (min(scores) - 0.1 * (span_s or abs(min(scores)) or 1.0), max(mss) + 0.1 * (span_m or abs(max(mss)) or 1.0))
    assert pareto["reference_point"] == {"chrf": pytest.approx(ref[0]), "decode_ms_per_example": pytest.approx(ref[1])}
    front = [points[k] for k, r in ranks.items() if r == 1]
    assert pareto["hypervolume"] == pytest.approx(staircase_area(front, ref))

    out = project / "report.html"
    page_result = cli("report", name, "--format", "html", "--out", out, "--no-log", "--no-significance")
    assert page_result.exit_code == 0, page_result.stderr
    page = out.read_text()
    assert 'id="pareto-front"' in page and "front 1 (non-dominated)" in page
    assert not re.search(r"<script[^>]*\bsrc=", page)
