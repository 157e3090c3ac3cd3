"""The HTML report: one self-contained page (plotly.js inlined) with the study's plots.

At the top, the best configuration (the best ranked trial's searched values). Plots: with
several objectives, the Pareto front of the first two (front 1 highlighted and joined; hover
shows a trial's number and configuration); learning curves of the top trials (the ranking
metric's history from MLflow); their training and validation loss; parallel coordinates of
the searched parameters against the metric; the metric against each parameter (log axes for
log-scaled parameters); hyperparameter importance (fANOVA and PED-ANOVA, with a caveat below
10 finished trials); and the metric by trial in start order with the best so far (whole
trial numbers). Trials the scheduler stopped early are marked (``x``, dotted, "stopped").
The baselines' validation values are dashed lines on the learning curves and the metric by
trial. Below them any warning, the Pareto table, the ranking, the baselines, the
significance tests, the importances and the notes, as HTML tables.
"""

from __future__ import annotations

import html
import json
import math
from typing import Any, Optional

from tfcli.records import TrialState
from tfcli.report.build import TRAIN_LOSS, VALID_LOSS, Report
from tfcli.report.importance import active_config, search_space, stored_spec
from tfcli.report.ranking import Row
from tfcli.report.render import (
    BASELINE_TITLE,
    hypervolume_line,
    importance_notes,
    importance_title,
    pareto_headers,
    pareto_rows,
    pareto_title,
    CONFIRMED_HEADERS,
    SIGNIFICANCE_HEADERS,
    baseline_headers,
    baseline_rows,
    confirmed_rows,
    confirmed_title,
    display,
    header,
    significance_rows,
)
from tfcli.report.significance import SCOPE

#: The distributions of the study file that sample on a log scale.
LOG_DISTRIBUTIONS = ("log_uniform", "q_log_uniform")


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def baseline_lines(report: Report, figure) -> None:
    """A dashed horizontal line at each baseline's validation value of the ranking metric."""
    for baseline in report.baselines:
        value = baseline.metrics.get(report.metric)
        if baseline.split != "valid" or not _finite(value):
            continue
        figure.add_hline(
            y=value, line_dash="dash", line_color="gray", annotation_text=f"baseline {baseline.name}", annotation_position="top left"
        )


#: Plotly's default colours, so a trial keeps one colour across the traces of a plot.
COLOURS = ("#636efa", "#EF553B", "#00cc96", "#ab63fa", "#FFA15A", "#19d3f3", "#FF6692", "#B6E880", "#FF97FF", "#FECB52")
#: The marker of a trial that the scheduler stopped early.
STOPPED_SYMBOL = "x"
STOPPED = TrialState.STOPPED.value
#: Room above the plotting area for a title (and, in parallel coordinates, the axis labels).
TOP_MARGIN = 80
PARCOORDS_TOP_MARGIN = 140


def _title(text: str) -> dict:
    """A title pinned to the top of the figure, above any axis label."""
    return {"text": text, "x": 0.01, "xanchor": "left", "y": 0.98, "yanchor": "top", "yref": "container"}


def log_scaled(report: Report) -> set[str]:
    """The searched parameters the study file samples on a log scale."""
    return {name for name, p in search_space(report.spec_json or report.study.spec_json).items() if p.get("distribution") in LOG_DISTRIBUTIONS}


def _value_of(row: Row, name: str, active: dict) -> Any:
    """A searched parameter's value in a trial, or None when the trial left it inactive."""
    return active.get(row.record.run_id, {}).get(name)


def _active(report: Report, rows) -> dict[str, dict]:
    spec = stored_spec(report.spec_json or report.study.spec_json)
    return {row.record.run_id: active_config(row.record.config, row.record.params, report.parameters, spec) for row in rows}


def _trial_label(row: Row) -> str:
    return f"trial {row.record.label}" + (f" ({STOPPED})" if row.record.stopped_early else "")


def learning_curves(report: Report):
    import plotly.graph_objects as go

    figure = go.Figure()
    for i, row in enumerate(report.ranking.ranked):
        points = report.histories.get(row.record.run_id)
        if not points:
            continue
        figure.add_trace(
            go.Scatter(
                x=[s for s, _ in points],
                y=[v if _finite(v) else None for _, v in points],
                mode="lines+markers",
                name=f"#{row.rank} {row.trial_id}" + (f" ({STOPPED})" if row.record.stopped_early else ""),
                line={"color": COLOURS[i % len(COLOURS)], "dash": "dot" if row.record.stopped_early else "solid"},
                marker={"symbol": STOPPED_SYMBOL if row.record.stopped_early else "circle"},
            )
        )
    baseline_lines(report, figure)
    figure.update_layout(
        title=_title(f"Learning curves of the top trials: {report.metric} (dotted: stopped early)"), xaxis_title="step", yaxis_title=report.metric
    )
    return figure


def loss_curves(report: Report):
    """Training loss (solid) and validation loss (dashed) of the top trials, one colour each."""
    import plotly.graph_objects as go

    figure = go.Figure()
    train, valid = report.loss_histories.get(TRAIN_LOSS, {}), report.loss_histories.get(VALID_LOSS, {})
    for i, row in enumerate(report.ranking.ranked):
        colour = COLOURS[i % len(COLOURS)]
        for points, kind, dash in ((train.get(row.record.run_id), "train", "solid"), (valid.get(row.record.run_id), "validation", "dash")):
            if not points:
                continue
            figure.add_trace(
                go.Scatter(
                    x=[s for s, _ in points],
                    y=[v if _finite(v) else None for _, v in points],
                    mode="lines",
                    name=f"{_trial_label(row)}: {kind} loss",
                    legendgroup=row.record.run_id,
                    line={"color": colour, "dash": dash},
                )
            )
    title = "Loss of the top trials: training (solid) and validation (dashed)"
    if not figure.data:
        title = "Loss of the top trials: no loss was logged"
    figure.update_layout(title=_title(title), xaxis_title="step", yaxis_title="loss")
    return figure


def _log_ticks(values: list[float]) -> tuple[list[float], list[str]]:
    """Ticks of a log-scaled axis drawn in log10 units: the powers of ten in range, else the
    smallest and largest value, labelled with the values themselves."""
    low, high = math.log10(min(values)), math.log10(max(values))
    decades = list(range(math.ceil(low), math.floor(high) + 1))
    ticks = [float(d) for d in decades] if len(decades) >= 2 else sorted({low, high})
    return ticks, [f"{10 ** t:.3g}" for t in ticks]


def parallel_coordinates(report: Report):
    import plotly.graph_objects as go

    rows = list(report.all_ranked or report.ranking.ranked)  # every ranked trial, not only --top
    active = _active(report, rows)
    logs = log_scaled(report)
    dimensions = []
    for name in report.parameters:
        values = [_value_of(row, name, active) for row in rows]
        if values and all(_finite(v) for v in values):
            numbers = [float(v) for v in values]
            if name in logs and all(v > 0 for v in numbers):  # parcoords has no log axis: log10 units, real labels
                tickvals, ticktext = _log_ticks(numbers)
                dimensions.append({"label": name, "values": [math.log10(v) for v in numbers], "tickvals": tickvals, "ticktext": ticktext})
            else:
                dimensions.append({"label": name, "values": numbers})
        else:
            text = ["inactive" if v is None else v if isinstance(v, str) else json.dumps(v) for v in values]
            labels = sorted(set(text))
            index = {label: i for i, label in enumerate(labels)}
            dimensions.append({"label": name, "values": [index[t] for t in text], "tickvals": list(range(len(labels))), "ticktext": labels})
    metric_values = [float(row.value) for row in rows]
    dimensions.append({"label": report.metric, "values": metric_values})
    figure = go.Figure(
        go.Parcoords(
            line={"color": metric_values, "colorscale": "Viridis", "showscale": True, "reversescale": report.mode == "min"},
            dimensions=dimensions,
        )
    )
    figure.update_layout(
        title=_title(f"Parallel coordinates: searched parameters and {report.metric} ({len(rows)} ranked trials)"),
        margin={"t": PARCOORDS_TOP_MARGIN},
    )
    return figure


def parameter_slices(report: Report):
    """The ranking metric against each searched parameter (log axes for log-scaled ones)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    rows = list(report.all_ranked or report.ranking.ranked)
    names = list(report.parameters) or ["(none searched)"]
    columns = min(len(names), 3)
    lines = math.ceil(len(names) / columns)
    figure = make_subplots(rows=lines, cols=columns, subplot_titles=names, vertical_spacing=0.25 if lines > 1 else 0.1, horizontal_spacing=0.08)
    active = _active(report, rows)
    logs = log_scaled(report)
    for k, name in enumerate(report.parameters):
        r, c = k // columns + 1, k % columns + 1
        for stopped in (False, True):
            chosen = [row for row in rows if row.record.stopped_early is stopped and _value_of(row, name, active) is not None]
            if not chosen:
                continue
            values = [_value_of(row, name, active) for row in chosen]
            figure.add_trace(
                go.Scatter(
                    x=[v if _finite(v) or isinstance(v, str) else json.dumps(v) for v in values],
                    y=[row.value for row in chosen],
                    mode="markers",
                    name=STOPPED if stopped else TrialState.FINISHED.value,
                    legendgroup=STOPPED if stopped else TrialState.FINISHED.value,
                    showlegend=k == 0,
                    marker={"symbol": STOPPED_SYMBOL if stopped else "circle", "size": 9, "color": "#EF553B" if stopped else "#636efa"},
                    text=[_trial_label(row) for row in chosen],
                    hovertemplate="%{text}<br>" + name + " %{x}<br>" + report.metric + " %{y}<extra></extra>",
                ),
                row=r,
                col=c,
            )
        if name in logs:
            figure.update_xaxes(type="log", row=r, col=c)
        figure.update_yaxes(title_text=report.metric if c == 1 else None, row=r, col=c)
    figure.update_layout(
        title=_title(f"{report.metric} against each searched parameter (log axes for log-scaled ones; x: stopped early)"),
        height=max(460, 320 * lines),
        margin={"t": 110},
    )
    return figure


def importance_bars(report: Report):
    import plotly.graph_objects as go

    shown = [imp for imp in report.importances or ([report.importance] if report.importance else []) if imp.importances]
    figure = go.Figure()
    names = sorted({n for imp in shown for n in imp.importances})
    for imp in shown:
        figure.add_trace(go.Bar(x=[imp.importances.get(n, 0.0) for n in names], y=names, orientation="h", name=imp.label))
    if shown:
        trials = max(imp.trials for imp in shown)
        title = f"Hyperparameter importance over {trials} finished trials ({', '.join(dict.fromkeys(imp.kind for imp in shown))})"
    else:
        notes = [imp.note for imp in report.importances or ([report.importance] if report.importance else []) if imp and imp.note]
        title = f"Hyperparameter importance: skipped ({notes[0] if notes else 'not computed'})"
    caveat = next((imp.caveat for imp in shown if imp.caveat), None)
    if caveat:
        figure.add_annotation(
            text=f"Caveat: {caveat}", xref="paper", yref="paper", x=0, y=-0.22, xanchor="left", yanchor="top", showarrow=False,
            font={"color": "#a00"},
        )
    figure.update_layout(title=_title(title), xaxis_title="importance (normalised to sum to 1 per method)", barmode="group", margin={"b": 110})
    return figure


def objective_by_trial(report: Report):
    import plotly.graph_objects as go

    rows: list[Row] = sorted(report.all_ranked or report.ranking.ranked, key=lambda r: (r.record.start_time is None, r.record.start_time or 0, r.trial_id))
    x = [row.record.number if row.record.number is not None else index for index, row in enumerate(rows)]
    y = [row.value for row in rows]
    best, running = [], None
    for value in y:
        if running is None or (value > running if report.mode == "max" else value < running):
            running = value
        best.append(running)
    figure = go.Figure()
    for stopped in (False, True):
        keep = [i for i, row in enumerate(rows) if row.record.stopped_early is stopped]
        if not keep and stopped:
            continue
        figure.add_trace(
            go.Scatter(
                x=[x[i] for i in keep],
                y=[y[i] for i in keep],
                mode="markers",
                name=f"{report.metric} ({STOPPED} early)" if stopped else report.metric,
                text=[rows[i].trial_id for i in keep],
                marker={"symbol": STOPPED_SYMBOL if stopped else "circle", "size": 10 if stopped else 8},
            )
        )
    figure.update_xaxes(tickformat="d")  # whole trial numbers, never 1.5
    if len(rows) <= 30:
        figure.update_xaxes(tickmode="linear", dtick=1)
    figure.add_trace(go.Scatter(x=x, y=best, mode="lines", name="best so far", line={"shape": "hv"}))
    baseline_lines(report, figure)
    figure.update_layout(title=_title(f"{report.metric} by trial (in start order; x: stopped early)"), xaxis_title="trial number", yaxis_title=report.metric)
    return figure


def _config_text(config: dict) -> str:
    return "<br>".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}" for k, v in config.items()) or "(nothing searched)"


def pareto_scatter(report: Report):
    """The first two objectives of every trial; the non-dominated ones (front 1) highlighted
    and joined; hovering shows the trial's number and configuration."""
    import plotly.graph_objects as go

    front = report.pareto
    figure = go.Figure()
    x_name, y_name = front.objectives[0].metric, front.objectives[1].metric
    for first in (False, True):
        points = [p for p in front.points if (p.rank == 1) is first]
        if first:
            points.sort(key=lambda p: (p.values[0], p.values[1]))
        if not points:
            continue
        figure.add_trace(
            go.Scatter(
                x=[p.values[0] for p in points],
                y=[p.values[1] for p in points],
                mode="lines+markers" if first else "markers",
                name="front 1 (non-dominated)" if first else "dominated (front 2 and beyond)",
                line={"color": "#EF553B", "shape": "hv" if len(front.objectives) == 2 else "linear"} if first else None,
                marker={"size": 12 if first else 8, "color": "#EF553B" if first else "#999999", "symbol": "diamond" if first else "circle"},
                text=[f"trial {p.number if p.number is not None else p.trial_id} (front {p.rank})" for p in points],
                customdata=[_config_text(dict(p.config)) for p in points],
                hovertemplate="%{text}<br>" + x_name + " %{x}<br>" + y_name + " %{y}<br>%{customdata}<extra></extra>",
            )
        )
    more = f" (first two of {len(front.objectives)} objectives)" if len(front.objectives) > 2 else ""
    hv = f"; hypervolume {front.hypervolume:.4g}" if front.hypervolume is not None else ""
    figure.update_layout(
        title=_title(f"Pareto front: {x_name} ({front.objectives[0].mode}) against {y_name} ({front.objectives[1].mode}){more}{hv}"),
        xaxis_title=f"{x_name} ({front.objectives[0].mode})",
        yaxis_title=f"{y_name} ({front.objectives[1].mode})",
    )
    return figure


def confirmed_error_bars(report: Report):
    """The confirmed configurations: mean and 95% interval across seeds, validation and test."""
    import plotly.graph_objects as go

    block = report.confirmed
    figure = go.Figure()
    if block is None:
        figure.update_layout(title="Confirmed across seeds: none yet (tfcli study confirm NAME)")
        return figure
    names = [c.trial_id for c in block.configs]
    for split in ("valid", "test"):
        summaries = [getattr(c, split) for c in block.configs]
        if not any(summaries):
            continue
        means = [s.mean if s else None for s in summaries]
        half = [(s.ci_high - s.mean) if s and _finite(s.ci_high) else 0.0 for s in summaries]
        figure.add_trace(go.Scatter(x=names, y=means, mode="markers", name=split, error_y={"type": "data", "array": half, "visible": True}))
    figure.update_layout(
        title=f"Confirmed across seeds: {block.metric}, mean and 95% CI (verdict: {block.verdict})",
        xaxis_title="configuration of trial", yaxis_title=block.metric,
    )
    return figure


def validation_against_test(report: Report):
    """The trials scored on test: their validation value against their test value."""
    import plotly.graph_objects as go

    key = f"test/{report.metric}"
    rows = [row for row in (report.all_ranked or report.ranking.ranked) if key in row.record.metrics]
    figure = go.Figure()
    if rows:
        figure.add_trace(go.Scatter(
            x=[row.value for row in rows], y=[row.record.metrics[key] for row in rows], mode="markers+text",
            text=[row.record.label for row in rows], textposition="top center", name="trial",
        ))
    title = f"Validation against test, top {len(rows)} trials" if rows else "Validation against test: no test scores yet (tfcli report NAME --test)"
    figure.update_layout(title=title, xaxis_title=f"{report.metric} (validation)", yaxis_title=f"{report.metric} (test)")
    return figure


def _table(headers, rows) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f3f3f3; }
.plot { margin: 1em 0 2em; }
.note { color: #555; }
.warning { color: #a00; font-weight: bold; }
.caveat { color: #a00; }
.best { border: 1px solid #ccc; padding: 0.5em 1em; margin: 1em 0; background: #fafafa; }
"""


def _status(row: Row) -> str:
    """The word for a trial's state (``stopped`` for one the scheduler stopped early)."""
    return row.record.state.value


def _cells(row: Row, report: Report, active: dict) -> list[str]:
    """A ranking row; ``inactive`` for a parameter the trial's conditional search did not set."""
    config = active.get(row.record.run_id, {})
    return [
        _status(row) if c == "status" else "inactive" if c in report.parameters and c not in config else display(row, c, report.metric)
        for c in report.columns
    ]


def best_configuration(report: Report) -> str:
    """The panel of the best ranked trial: its value, step and searched configuration."""
    best = report.ranking.best
    if best is None:
        return '<div class="best"><h2>Best configuration</h2><p class="note">No trial has a finite value yet.</p></div>'
    config = _active(report, [best]).get(best.record.run_id, {})
    rows = [[name, display(best, name, report.metric) if name in config else "inactive (not set by this trial)"] for name in report.parameters]
    facts = (
        f"Trial {html.escape(best.record.label)} ({html.escape(best.trial_id)}, {html.escape(_status(best))}): "
        f"{html.escape(report.metric)} {html.escape(display(best, report.metric, report.metric))} at step {html.escape(str(best.step))}; "
        f"MLflow run {html.escape(best.record.run_id)}."
    )
    export = f"tfcli export {report.study.name} --out {report.study.name}-best"
    return (
        '<div class="best" id="best-configuration"><h2>Best configuration</h2>'
        f"<p>{facts}</p>{_table(['parameter', 'value'], rows) if rows else ''}"
        f'<p class="note">Export it with <code>{html.escape(export)}</code>.</p></div>'
    )


def _importance_sections(report: Report) -> list[str]:
    parts = []
    for imp in report.importances or ([report.importance] if report.importance else []):
        if imp.note:
            parts.append(f'<p class="note">Importance ({html.escape(imp.label)}): skipped: {html.escape(imp.note)}.</p>')
            continue
        parts.append(f"<h3>{html.escape(importance_title(imp))}</h3>")
        parts.append(_table(["parameter", "importance"], [[k, f"{v:.3f}"] for k, v in imp.importances.items()]))
        parts.append(f'<p class="note">{html.escape(imp.method)}.</p>')
        parts += [f'<p class="caveat">{html.escape(n)}</p>' for n in importance_notes(imp)]
    return parts


def figures(report: Report) -> list[tuple[str, Any]]:
    """The page's plots, as (div id, plotly figure), in page order."""
    out = []
    if report.pareto is not None and report.pareto.points:
        out.append(("pareto-front", pareto_scatter(report)))
    out += [
        ("learning-curves", learning_curves(report)),
        ("loss-curves", loss_curves(report)),
        ("parallel-coordinates", parallel_coordinates(report)),
        ("parameter-slices", parameter_slices(report)),
        ("importance", importance_bars(report)),
        ("objective-by-trial", objective_by_trial(report)),
    ]
    if any(f"test/{report.metric}" in row.record.metrics for row in report.all_ranked or report.ranking.ranked):
        out.append(("validation-vs-test", validation_against_test(report)))
    if report.confirmed is not None:
        out.append(("confirmed", confirmed_error_bars(report)))
    return out


def render_html(report: Report, *, title: Optional[str] = None) -> str:
    """The whole page as a string (plotly.js inlined once, so it works offline)."""
    plots = []
    for i, (div_id, figure) in enumerate(figures(report)):
        if figure.layout.height is None:
            figure.update_layout(height=460)
        if figure.layout.margin.t is None:
            figure.update_layout(margin={"t": TOP_MARGIN})
        snippet = figure.to_html(full_html=False, include_plotlyjs=(i == 0), div_id=div_id)
        plots.append(f'<div class="plot">{snippet}</div>')
    study = report.study
    title = title or f"tfcli report: {study.name}"
    active = _active(report, report.ranking.ranked)
    ranking = _table([header(c, report) for c in report.columns], [_cells(row, report, active) for row in report.ranking.ranked])
    objectives = (
        "objectives " + ", ".join(f"{html.escape(o.metric)} ({o.mode})" for o in report.pareto.objectives)
        if report.pareto is not None
        else f"objective {html.escape(str(study.objective_metric))} ({html.escape(str(study.objective_mode))})"
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{report.trials} trials; task {html.escape(str(study.task))}; {objectives}; ranked by "
        f"{html.escape(report.metric)} ({report.mode}); study id {html.escape(study.study_id)}.</p>",
        *(f'<p class="warning">Warning: {html.escape(w)}.</p>' for w in report.warnings),
        best_configuration(report),
        *plots,
    ]
    if report.pareto is not None:
        parts.append(f"<h2>{html.escape(pareto_title(report))}</h2>")
        if report.pareto.points:
            parts.append(_table(pareto_headers(report), pareto_rows(report)))
        parts.append(f'<p class="note">{html.escape(hypervolume_line(report))}.</p>')
    parts += [f"<h2>Ranking by {html.escape(report.metric)}</h2>", ranking]
    if report.baselines:
        parts += [f"<h2>{html.escape(BASELINE_TITLE)}</h2>", _table(baseline_headers(report), baseline_rows(report))]
    if report.ranking.apart:
        parts += [
            "<h2>Failed, killed and without a value</h2>",
            _table(["trial", "status", "error"], [[r.record.label, r.record.state.value, r.record.error or ""] for r in report.ranking.apart]),
        ]
    s = report.significance
    if s is not None:
        parts.append(f"<h2>Significance ({html.escape(s.metric)}, paired bootstrap)</h2>")
        if s.note:
            parts.append(f'<p class="note">Skipped: {html.escape(s.note)}.</p>')
        else:
            parts.append(_table(SIGNIFICANCE_HEADERS, significance_rows(report)))
            parts.append(f'<p class="note">{s.examples} validation examples, {s.resamples} resamples; difference = top minus other. The test {html.escape(SCOPE)}.</p>')
    if report.importances or report.importance:
        parts.append("<h2>Hyperparameter importance</h2>")
        parts += _importance_sections(report)
    if report.confirmed is not None:
        parts += [
            f"<h2>{html.escape(confirmed_title(report))}</h2>",
            _table(CONFIRMED_HEADERS, confirmed_rows(report)),
            f'<p class="note">Verdict: {html.escape(report.confirmed.sentence())}.</p>',
        ]
    notes = report.notes + ([report.parameter_source] if report.parameter_source else [])
    if notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f'<li class="note">{html.escape(n)}</li>' for n in notes) + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)
