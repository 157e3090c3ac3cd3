"""Issues 14 and 17 on a synthetic study (MLflow's client, no Ray): the Pareto front of a study
with two objectives in every format, importance per objective and method with inactive
parameters left out, and the HTML page's figures (log axes, whole trial numbers, stopped
trials marked, titles clear of the axes, the best configuration, loss curves, the caveat)."""

from __future__ import annotations

import json
import re

import pytest

from tests.report.conftest import synthetic_study
from tests.tracking.test_tracking import _empty_store_db, store  # noqa: F401 - fixtures
from tfcli.spec.schema import StudySpec

pytestmark = pytest.mark.timeout(180)

NAME = "mo"
SPEC = StudySpec.model_validate({
    "name": NAME,
    "task": {"type": "translation", "data": "builtin:dates"},
    "objective": [{"metric": "bleu", "mode": "max"}, {"metric": "decode_ms_per_example", "mode": "min"}],
    "search": {"method": "tpe", "parameters": {
        "train.lr": {"distribution": "log_uniform", "min": 1e-4, "max": 1e-2},
        "model.d_model": {"values": [16, 32]},
        "model.dropout": {"distribution": "uniform", "min": 0.0, "max": 0.3, "when": {"model.d_model": 32}},
    }},
})


def trial(lr, d_model, bleu, ms, *, dropout=None, best_step=20, status="FINISHED"):
    """Histories at steps 10 and 20; the best checkpoint (bleu) at ``best_step``, where
    decode_ms_per_example is ``ms`` (at the other step it is 100, to catch a wrong step)."""
    config = {"train.lr": lr, "model.d_model": d_model, **({"model.dropout": dropout} if dropout is not None else {})}
    other = 10 if best_step == 20 else 20
    history = {
        "bleu": [(best_step, bleu), (other, bleu / 2)],
        "decode_ms_per_example": sorted([(best_step, ms), (other, 100.0)]),
        "train_loss": [(5, 3.0), (10, 2.0), (20, 1.5)],
        "loss": [(10, 2.5), (20, 2.2)],
    }
    return {"status": status, "config": config, "history": history, "objective_value": bleu, "objective_step": best_step}


TRIALS = [
    trial(1e-3, 16, 30.0, 5.0),  # 0: front 1 (best bleu)
    trial(2e-3, 32, 20.0, 1.0, dropout=0.1, best_step=10),  # 1: front 1 (fastest), best checkpoint at step 10
    trial(5e-4, 16, 25.0, 3.0),  # 2: front 1 (a trade-off)
    trial(3e-3, 32, 24.0, 4.0, dropout=0.2),  # 3: front 2 (dominated by 2)
    trial(4e-3, 16, 18.0, 6.0),  # 4: front 3 (dominated by 3), stopped early
    {"status": "FAILED", "config": {"train.lr": 1e-2, "model.d_model": 16}, "error": "diverged"},  # 5: left out
    {"status": "FINISHED", "config": {"train.lr": 1e-4, "model.d_model": 16}, "history": {"bleu": [(10, 10.0)]},
     "objective_value": 10.0, "objective_step": 10},  # 6: no decode_ms_per_example: left out
]
EXPECTED = {0: 1, 1: 1, 2: 1, 3: 2, 4: 3}


@pytest.fixture
def study(store):  # noqa: F811 - the fixture imported above
    from tfcli import tracking as tr

    synthetic_study(store, NAME, TRIALS, objective="bleu", mode="max", spec_json=SPEC.model_dump_json())
    client = store.client()
    runs = {r.trial_id: r for r in tr.load_study(store, NAME).trials}
    for n, record in enumerate(sorted(runs.values(), key=lambda r: r.trial_id)):
        client.set_tag(record.run_id, tr.TAG_TRIAL_NUMBER, str(n))
    client.set_tag(runs["syn_00004"].run_id, tr.TAG_STOPPED_EARLY, "true")
    return store


def report_json(cli, store, *args):  # noqa: F811
    result = cli("report", NAME, "--tracking-uri", store.uri, "--format", "json", "--no-significance", *args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_json_has_the_pareto_block(cli, study):
    payload = report_json(cli, study)
    pareto = payload["pareto"]
    assert pareto["objectives"] == [{"metric": "bleu", "mode": "max"}, {"metric": "decode_ms_per_example", "mode": "min"}]
    ranks = {t["number"]: t["rank"] for t in pareto["trials"]}
    assert ranks == EXPECTED
    assert [t["rank"] for t in pareto["trials"]] == sorted(ranks.values())  # front 1 first
    by_number = {t["number"]: t for t in pareto["trials"]}
    # trial 1's point is at its best checkpoint (step 10), not its last value (100 ms at step 20)
    assert by_number[1]["values"] == {"bleu": 20.0, "decode_ms_per_example": 1.0} and by_number[1]["step"] == 10
    assert by_number[1]["config"] == {"train.lr": 2e-3, "model.d_model": 32, "model.dropout": 0.1}
    assert all(t["run_id"] and t["trial_id"].startswith("syn_") for t in pareto["trials"])
    # reference: worst bleu 18 - 10% of 12, worst ms 6 + 10% of 5
    assert pareto["reference_point"] == pytest.approx({"bleu": 16.8, "decode_ms_per_example": 6.5})
    # front (30, 5), (25, 3), (20, 1): 13.2 x 1.5 + 8.2 x 2 + 3.2 x 2
    assert pareto["hypervolume"] == pytest.approx(13.2 * 1.5 + 8.2 * 2 + 3.2 * 2)
    notes = " ".join(payload["notes"])
    assert "not finished or failed: trial 5" in notes and "missing a value of bleu and decode_ms_per_example: trial 6" in notes


def test_importance_per_objective_and_method(cli, study):
    payload = report_json(cli, study)
    labels = [i["label"] for i in payload["importances"]]
    assert labels == [
        "fANOVA, bleu (max)", "PED-ANOVA, bleu (max)",
        "fANOVA, decode_ms_per_example (min)", "PED-ANOVA, decode_ms_per_example (min)",
    ]
    for imp in payload["importances"]:
        assert imp["trials"] == 5 and "only 5 finished trials" in imp["caveat"]
        if imp["kind"] == "fANOVA":
            # model.dropout is inactive where d_model is 16: not in fANOVA
            assert imp["inactive"] == ["model.dropout"] and "model.dropout" not in imp["importances"]
    assert payload["importance"]["kind"] == "fANOVA" and payload["importance"]["metric"] == "bleu"
    # the trials' configs leave out what the conditional search did not set
    configs = {row["number"]: row["config"] for row in payload["ranked"]}
    assert configs[0] == {"train.lr": 1e-3, "model.d_model": 16} and configs[1]["model.dropout"] == 0.1


def test_table_shows_the_front_first_and_the_hypervolume(cli, study):
    result = cli("report", NAME, "--tracking-uri", study.uri, "--no-significance")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert out.index("Pareto front") < out.index("trials ranked by bleu")
    assert "3 non-dominated of 5 trials" in out
    assert re.search(r"Hypervolume of the first front: 42\b", out) and "reference point (bleu 16.8, decode_ms_per_example 6.5)" in out
    assert "Caveat: only 5 finished trials" in out


def test_where_filters_the_front(cli, study):
    payload = report_json(cli, study, "--where", "model.d_model=16")
    assert {t["number"]: t["rank"] for t in payload["pareto"]["trials"]} == {0: 1, 2: 1, 4: 2}


def _figure(report, name):
    from tfcli.report import html

    return dict(html.figures(report))[name].to_plotly_json()


def _built(study):  # noqa: F811
    from tfcli.report.build import build_report

    return build_report(study, NAME, with_significance=False, curves=True)


def test_html_figures(study):
    from tfcli.report.html import figures, render_html

    report = _built(study)
    # the Pareto scatter: front 1 highlighted and joined, in order of the first objective; hover names trial and config
    pareto = _figure(report, "pareto-front")
    front, rest = (next(t for t in pareto["data"] if t["name"].startswith(k)) for k in ("front 1", "dominated"))
    assert front["mode"] == "lines+markers" and list(front["x"]) == [20.0, 25.0, 30.0] and list(front["y"]) == [1.0, 3.0, 5.0]
    assert rest["mode"] == "markers" and sorted(rest["x"]) == [18.0, 24.0]
    assert "trial 1 (front 1)" in front["text"] and "model.dropout = 0.1" in front["customdata"][0]
    # log axes for log-scaled parameters, linear otherwise
    slices = _figure(report, "parameter-slices")
    axes = {slices["layout"][k]["anchor"]: slices["layout"][k].get("type") for k in slices["layout"] if k.startswith("xaxis")}
    titles = [a["text"] for a in slices["layout"]["annotations"]]
    assert titles == ["train.lr", "model.d_model", "model.dropout"]
    assert [axes[f"y{'' if i == 0 else i + 1}"] for i in range(3)] == ["log", None, None]
    parcoords = _figure(report, "parallel-coordinates")
    lr = next(d for d in parcoords["data"][0]["dimensions"] if d["label"] == "train.lr")
    assert max(lr["values"]) < 0 and lr["ticktext"]  # log10 units, labelled with the values
    dropout = next(d for d in parcoords["data"][0]["dimensions"] if d["label"] == "model.dropout")
    assert "inactive" in dropout["ticktext"]
    # titles clear of the axes: pinned to the top, with room above the parallel coordinates' labels
    assert parcoords["layout"]["margin"]["t"] >= 120 and parcoords["layout"]["title"]["yref"] == "container"
    # whole trial numbers, stopped trials marked
    by_trial = _figure(report, "objective-by-trial")
    assert by_trial["layout"]["xaxis"]["tickformat"] == "d" and by_trial["layout"]["xaxis"]["dtick"] == 1
    stopped = next(t for t in by_trial["data"] if "stopped" in t["name"])
    assert stopped["marker"]["symbol"] == "x" and list(stopped["x"]) == [4]
    # train and validation loss curves
    loss = _figure(report, "loss-curves")
    kinds = {(t["name"].split(":")[0], t["line"]["dash"]) for t in loss["data"]}
    assert ("trial 1", "solid") in kinds and ("trial 1", "dash") in kinds and ("trial 4 (stopped)", "dash") in kinds
    assert {t["name"].split(": ")[1] for t in loss["data"]} == {"train loss", "validation loss"}
    # the importance caveat, in the figure and on the page
    importance = _figure(report, "importance")
    assert "Caveat: only 5 finished trials" in importance["layout"]["annotations"][0]["text"]
    page = render_html(report)
    assert page.count("Plotly.newPlot") == len(figures(report)) == 7
    assert 'id="best-configuration"' in page and "Best configuration" in page
    best = page[page.index('id="best-configuration"'):page.index("</div>", page.index('id="best-configuration"'))]
    assert "Trial 0" in best and "inactive (not set by this trial)" in best  # trial 0 has d_model 16: no dropout
    assert "<td>stopped</td>" in page and "Caveat: only 5 finished trials" in page
    assert "<td>inactive</td>" in page.split("<h2>Ranking by")[1]  # trial 0's model.dropout
    assert not re.search(r"<script[^>]*\bsrc=", page)


def test_notes_name_no_internal_tags(study):
    from tfcli.report.html import render_html
    from tfcli.report.render import to_json, to_markdown

    report = _built(study)
    texts = [*report.notes, report.parameter_source, *(i.note or "" for i in report.importances)]
    assert not [t for t in texts if re.search(r"tfcli\.\w", t)]
    page = render_html(report)
    notes = page[page.index("<h2>Notes</h2>"):]
    assert not re.search(r"tfcli\.\w", notes)
    assert "tfcli." not in to_markdown(report)
    assert "tfcli.parameters" not in to_json(report)


def test_active_config_follows_the_when_conditions():
    from tfcli.report.importance import active_config, stored_spec

    spec = stored_spec(SPEC.model_dump_json())
    names = ["train.lr", "model.d_model", "model.dropout"]
    assert active_config({"train.lr": 1e-3, "model.d_model": 16, "model.dropout": 0.1}, {}, names, spec) == {"train.lr": 1e-3, "model.d_model": 16}
    assert active_config({"train.lr": 1e-3, "model.d_model": 32, "model.dropout": 0.1}, {}, names, spec)["model.dropout"] == 0.1
    # without a readable spec: what the config holds (absent = inactive)
    assert active_config({"model.d_model": 16}, {"model.dropout": 0.0}, names, None) == {"model.d_model": 16}
    assert stored_spec("not json") is None


def test_ped_anova_scores_the_parameter_that_matters_and_keeps_conditional_ones():
    import random

    from tfcli.report.importance import fanova, ped_anova

    rng = random.Random(1)
    points = []
    for _ in range(200):  # PED-ANOVA looks at the top 10%: with 60 trials, 6 points make a noisy density
        config = {"train.lr": 10 ** rng.uniform(-4, -2), "model.d_model": rng.choice([16, 32, 64])}
        if config["model.d_model"] == 64:
            config["model.dropout"] = rng.uniform(0, 0.3)
        points.append((config, 10 * config["model.d_model"] / 64 + rng.gauss(0, 0.05)))
    space = {"train.lr": {"distribution": "log_uniform", "min": 1e-4, "max": 1e-2}, "model.d_model": {"values": [16, 32, 64]},
             "model.dropout": {"distribution": "uniform", "min": 0.0, "max": 0.3}}
    names = ["train.lr", "model.d_model", "model.dropout"]
    ped = ped_anova(points, names, space, "max", "bleu")
    assert ped.note is None and ped.kind == "PED-ANOVA" and ped.label == "PED-ANOVA, bleu (max)"
    assert list(ped.importances)[0] == "model.d_model" and ped.importances["model.d_model"] > 0.5 and "model.dropout" in ped.importances
    assert ped.caveat is None  # 200 trials
    fan = fanova(points, names, space, "max", "bleu")
    assert fan.kind == "fANOVA" and fan.inactive == ["model.dropout"] and "model.dropout" not in fan.importances
    few = ped_anova(points[:4], names, space, "max", "bleu")
    assert few.caveat and "only 4 finished trials" in few.caveat


def test_the_page_draws_every_plot_offline_in_chromium(study, tmp_path):
    """The multi-objective page (Pareto plot included) opened offline in headless Chromium:
    every plot drawn, with a title, its traces drawn, the titles clear of one another and of
    the parallel coordinates' axis labels, and no JavaScript error."""
    import time

    browser_helpers = pytest.importorskip("tests.integration.browser")
    if browser_helpers.chromium_binary() is None:
        pytest.skip("no Chromium binary")
    from tfcli.report.html import render_html

    path = tmp_path / "report.html"
    path.write_text(render_html(_built(study)))
    containers = re.findall(r'<div id="([^"]+)" class="plotly-graph-div"', path.read_text())
    assert "pareto-front" in containers and len(containers) == 7
    drawn = """[...document.querySelectorAll('.plotly-graph-div')].map(div => {
      const title = div.querySelector('.gtitle'), labels = [...div.querySelectorAll('.axis-title, .parcoords .axis-heading text')];
      const box = title ? title.getBoundingClientRect() : null;
      return {id: div.id, drawn: Boolean(div._fullLayout && div.querySelector('.main-svg')), title: title ? title.textContent : '',
        traces: (div.data || []).length, marks: div.querySelectorAll('.main-svg .trace, .main-svg .parcoords').length,
        overlaps: box ? labels.filter(l => { const r = l.getBoundingClientRect();
          return r.width > 0 && !(r.bottom <= box.top || r.top >= box.bottom || r.right <= box.left || r.left >= box.right); }).length : 0};
    })"""
    with browser_helpers.Browser() as chromium:
        page = chromium.open(path.as_uri(), offline=True)
        page.wait_for(f"{drawn}.length === {len(containers)} && {drawn}.every(p => p.drawn)", timeout=60)
        time.sleep(1.0)
        plots = page.evaluate(drawn)
        errors = page.errors()
    assert [p["id"] for p in plots] == containers
    assert all(p["drawn"] and p["title"] for p in plots), plots
    assert all(p["marks"] > 0 for p in plots if p["traces"]), plots
    assert [p["id"] for p in plots if p["overlaps"]] == [], plots
    assert errors == [], errors


def test_an_inactive_parameter_shows_no_value_though_its_params_hold_the_default(cli, study):
    """A real trial logs every setting as a param, the study's default of an inactive
    parameter too (model.dropout 0.1 here); report cells show the trial did not search it."""
    import csv
    import io

    from tfcli import tracking as tr

    runs = {r.trial_id: r for r in tr.load_study(study, NAME).trials}
    study.client().log_param(runs["syn_00000"].run_id, "model.dropout", "0.1")  # trial 0: d_model 16, inactive

    def report(fmt):
        result = cli("report", NAME, "--tracking-uri", study.uri, "--format", fmt, "--no-significance", "--no-importance")
        assert result.exit_code == 0, result.stderr
        return result.stdout

    by_number = {row["number"]: row for row in json.loads(report("json"))["ranked"]}
    assert "model.dropout" in by_number[0]["cells"] and by_number[0]["cells"]["model.dropout"] is None
    assert by_number[1]["cells"]["model.dropout"] == 0.1
    rows = {row["trial"]: row for row in csv.DictReader(io.StringIO(report("csv")))}
    assert rows["0"]["model.dropout"] == "" and rows["1"]["model.dropout"] == "0.1", rows
    markdown = report("markdown")
    ranking = markdown[markdown.index("| rank |"):].split("\n\n")[0].splitlines()
    header = [c.strip() for c in ranking[0].strip("|").split("|")]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in ranking[2:]]
    cells = {row[header.index("trial")]: row[header.index("model.dropout")] for row in rows}
    assert cells["0"] == "inactive" and cells["1"] == "0.1", cells
    table = report("table")
    assert table.count("inactive") >= 4, table  # trials 0, 2, 4 and 6 (d_model 16) in the ranking
