"""``tfcli export``: a trial's checkpoint as a model folder, optionally registered in MLflow."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from tfcli import export as exporting
from tfcli.cli.options import FormatOption, MetricOption, ModeOption, StudyNameArgument, TrackingUriOption
from tfcli.cli.output import OutputFormat, print_json
from tfcli.report.ranking import parse_where
from tfcli.tracking import check_tracking, readable_tracking, resolve_tracking


def register(app: typer.Typer) -> None:
    app.command("export")(export)


def export(
    name: StudyNameArgument,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write (new or empty).", show_default=False)],
    trial: Annotated[Optional[str], typer.Option("--trial", help="Export this trial (id, its numeric end such as 00002, or run id) instead of the best.")] = None,
    metric: MetricOption = None,
    mode: ModeOption = None,
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
    mode_name = mode.value if mode else None
    conditions = [parse_where(w) for w in where or []]
    tracking = check_tracking(resolve_tracking(tracking_uri)) if register_name else readable_tracking(tracking_uri)
    chosen_by = None
    if conditions:
        trial, chosen_by = exporting.best_trial_where(tracking, name, conditions, trial=trial, metric=metric, mode=mode_name)
    result = exporting.export_study(tracking, name, out, trial=trial, metric=metric, mode=mode_name, force=force, by=by)
    registered = exporting.register_export(tracking, result.path, register_name) if register_name else None
    summary = _summary(result, chosen_by or result.chosen_by, registered)
    if output is OutputFormat.json:
        print_json(summary)
        return
    objective = result.config["provenance"]["objective"]
    value = summary["metrics"].get(objective["metric"]) if objective["metric"] else None
    typer.echo(
        f"Exported trial {summary['trial_id']} of {summary['study']} (step {summary['step']}"
        + (f", {objective['metric']} {value:.4g}" if isinstance(value, (int, float)) else "")
        + f") to {result.path}; chosen as {summary['chosen_by']}"
    )
    if registered is not None:
        typer.echo(f"Registered {registered.name} version {registered.version} as {registered.registered_uri}")


def _summary(result, chosen_by: str, registered) -> dict:
    """What was exported, as ``--format json`` prints it."""
    p, m = result.config["provenance"], result.config["metrics"]
    return {
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
