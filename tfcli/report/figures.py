"""The plotly figures of the HTML report (:mod:`.html` lays out the page).

With several objectives, the Pareto front of the first two (front 1 highlighted and joined;
hover shows a trial's number and configuration); learning curves of the top trials (the
ranking metric's history from MLflow); their training and validation loss; parallel
coordinates of the searched parameters against the metric; the metric against each
parameter (log axes for log-scaled parameters); hyperparameter importance (fANOVA and
PED-ANOVA); the metric by trial in start order with the best so far; validation against test
and the confirmed configurations' error bars when the study has them. Trials the scheduler
stopped early are marked (``x``, dotted, "stopped"); the baselines' validation values are
dashed lines on the learning curves and the metric by trial.
"""

from __future__ import annotations

import json
import math
from typing import Any

from tfcli.records import TrialState
from tfcli.report.build import TRAIN_LOSS, VALID_LOSS, Report
from tfcli.report.importance import active_config, search_space, stored_spec
from tfcli.report.ranking import Row


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
                name=f"#{row.rank} trial {row.record.label}" + (f" ({STOPPED})" if row.record.stopped_early else ""),
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
            line={"color": metric_values, "colorscale": "Viridis", "showscale": True, "reversescale": not report.objective.maximize},
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
        if running is None or report.objective.better(value, running):
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
                text=[f"trial {rows[i].record.label}" for i in keep],
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
