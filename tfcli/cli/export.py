"""``tfcli export``: a trial's checkpoint as a model folder, optionally registered in MLflow."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from tfcli.cli.options import FormatOption, StudyNameArgument, TrackingUriOption
from tfcli.cli.output import OutputFormat, print_json


def register(app: typer.Typer) -> None:
    app.command("export")(export)


def export(
    name: StudyNameArgument,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write (new or empty).", show_default=False)],
    trial: Annotated[Optional[str], typer.Option("--trial", help="Export this trial (id, its numeric end such as 00002, or run id) instead of the best.")] = None,
    metric: Annotated[Optional[str], typer.Option("--metric", "-m", help="Pick the best trial by this metric (default: the objective).")] = None,
    mode: Annotated[Optional[str], typer.Option("--mode", help="max or min for --metric (default: the metric's natural one).")] = None,
    where: Annotated[
        Optional[list[str]],
        typer.Option(
            "--where", "-w",
            help="Pick the best trial among those where KEY OP VALUE holds, e.g. 'decode_ms_per_example<5' (repeatable, all must hold; the syntax of tfcli report --where).",
        ),
    ] = None,
    register_name: Annotated[
        Optional[str], typer.Option("--register", help="Also log it as an MLflow pyfunc model and register a version of NAME with the alias 'best'.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace the export files in a folder that is not empty.")] = False,
    by: Annotated[
        str, typer.Option("--by", help="auto: the best confirmed configuration once `tfcli study confirm` ran, else the best trial; best-trial: always the best trial.")
    ] = "auto",
    output: FormatOption = OutputFormat.table,
    tracking_uri: TrackingUriOption = None,
) -> None:
    """Export the best (or --trial) model of a study: weights, config, tokenizer and a model card."""
    from tfcli.export import export_study, register_export
    from tfcli.report.ranking import ReportError, parse_where
    from tfcli.tracking import check_tracking, readable_tracking, resolve_tracking

    if mode is not None and mode not in ("max", "min"):
        raise ReportError(f"--mode must be max or min, but got {mode!r}")
    conditions = [parse_where(w) for w in where or []]
    tracking = check_tracking(resolve_tracking(tracking_uri)) if register_name else readable_tracking(tracking_uri)
    chosen_by = None
    if conditions:
        trial = _best_where(tracking, name, trial, metric, mode, conditions)
        chosen_by = f"the best trial where {' and '.join(c.text for c in conditions)}"
    result = export_study(tracking, name, out, trial=trial, metric=metric, mode=mode, force=force, by=by)
    chosen_by = chosen_by or result.chosen_by
    p, m = result.config["provenance"], result.config["metrics"]
    registered = register_export(tracking, result.path, register_name) if register_name else None
    summary = {
        "path": str(result.path),
        "study": p["study"],
        "trial_id": p["trial_id"],
        "run_id": p["run_id"],
        "step": p["step"],
        "metrics": m["values"],
        "chosen_by": chosen_by,
        "confirmed": m.get("confirmed"),
        "registered": None
        if registered is None
        else {"name": registered.name, "version": registered.version, "alias": registered.alias, "uri": registered.registered_uri, "model_id": registered.model_id},
    }
    if output is OutputFormat.json:
        print_json(summary)
        return
    objective = p["objective"]
    value = m["values"].get(objective["metric"]) if objective["metric"] else None
    typer.echo(
        f"Exported trial {p['trial_id']} of {p['study']} (step {p['step']}"
        + (f", {objective['metric']} {value:.4g}" if isinstance(value, (int, float)) else "")
        + f") to {result.path}; chosen as {chosen_by}"
    )
    if registered is not None:
        typer.echo(f"Registered {registered.name} version {registered.version} as {registered.registered_uri}")


def _best_where(tracking, name: str, trial: Optional[str], metric: Optional[str], mode: Optional[str], conditions) -> str:
    """The id of the best finished trial (by --metric, default the first objective) among those
    that pass every --where condition; an ExportError (exit 2) when none does."""
    from tfcli import tracking as tr
    from tfcli.export import choose_trial

    snapshot = tr.load_study(tracking, name)
    records = snapshot.trials
    if metric is not None and metric != snapshot.study.objective_metric:
        records = tr.with_history(tracking, records, metric)
    return choose_trial(records, study=name, trial=trial, metric=metric, mode=mode, where=conditions).trial_id
