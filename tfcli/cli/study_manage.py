"""``tfcli study delete | tag | note | best``: a study's lifecycle verbs after it ran.

Registered on the ``study`` app by :mod:`tfcli.cli.study` (:func:`register`); the logic is in
:mod:`tfcli.study.manage`.
"""

from __future__ import annotations

import sys
from enum import Enum
from typing import Annotated, Optional

import typer

from tfcli.cli.options import StorageOption, StudyNameArgument, TrackingUriOption
from tfcli.cli.output import console, print_json
from tfcli.errors import StudyError
from tfcli.study.manage import best_config, config_yaml, delete_study, note_study, set_options, tag_study
from tfcli.tracking import check_tracking, readable_tracking, resolve_tracking

EXIT_DECLINED = 1


class BestFormat(str, Enum):
    json = "json"
    yaml = "yaml"
    overrides = "overrides"


def register(app: typer.Typer) -> None:
    for name, command in (("delete", delete), ("tag", tag), ("note", note), ("best", best)):
        app.command(name)(command)


def _writable(tracking_uri: Optional[str]):
    return check_tracking(resolve_tracking(tracking_uri))


def delete(
    name: StudyNameArgument,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Delete without asking (needed when stdin is not a terminal).")] = False,
    tracking_uri: TrackingUriOption = None,
    storage: StorageOption = None,
) -> None:
    """Delete a study: its MLflow runs and experiment (soft delete) and its Ray state; the name is free again."""
    tracking = _writable(tracking_uri)

    def confirm(plan) -> bool:
        if yes:
            return True
        if not sys.stdin.isatty():
            raise StudyError(
                f"deleting study {name!r} needs a confirmation, but stdin is not a terminal; "
                f"pass --yes to delete {plan.summary()}"
            )
        return typer.confirm(f"Delete {plan.summary()}?", default=False)

    done = delete_study(tracking, name, storage=storage, confirm=confirm)
    screen = console()
    if done is None:
        screen.print("Nothing deleted.")
        raise typer.Exit(EXIT_DECLINED)
    ray = ", ".join(done.plan.ray_folders) or "none found"
    screen.print(
        f"Deleted study {name}: {done.experiment.runs} run(s) and experiment {done.experiment.experiment_id} "
        f"(soft delete, renamed {done.experiment.renamed_to!r}); Ray state removed: {ray}.",
        markup=False,
    )
    screen.print(f"To restore it from MLflow: {done.experiment.restore_hint()}", markup=False)


def tag(
    name: StudyNameArgument,
    tags: Annotated[list[str], typer.Argument(help="KEY=VALUE, one or more; not in the tfcli. or mlflow. namespaces.")],
    tracking_uri: TrackingUriOption = None,
) -> None:
    """Set tags on a study's parent run."""
    run_id, written = tag_study(_writable(tracking_uri), name, tags)
    console().print(f"Tagged study {name} (parent run {run_id}): " + ", ".join(f"{k}={v}" for k, v in written.items()), markup=False)


def note(
    name: StudyNameArgument,
    text: Annotated[str, typer.Argument(help="The description, as MLflow's UI shows it (replaces an earlier one).")],
    tracking_uri: TrackingUriOption = None,
) -> None:
    """Set the description of a study's parent run."""
    run_id = note_study(_writable(tracking_uri), name, text)
    console().print(f"Noted on study {name} (parent run {run_id}).", markup=False)


def best(
    name: StudyNameArgument,
    tracking_uri: TrackingUriOption = None,
    output: Annotated[
        BestFormat,
        typer.Option(
            "--format", "-f",
            help="yaml: a study-file fragment; overrides: --set options for `tfcli train FILE $(...)`; json: with trial id and value.",
        ),
    ] = BestFormat.yaml,
) -> None:
    """The configuration of a study's best trial (the one `tfcli report` ranks first)."""
    found = best_config(readable_tracking(tracking_uri), name)
    if output is BestFormat.json:
        print_json(found.to_dict())
        return
    if found.config_changes:
        console(stderr=True).print(
            f"Note: {found.trial_id} changed its configuration {found.config_changes} time(s) (PBT); "
            "these are the values it started with.",
            markup=False,
        )
    if output is BestFormat.overrides:
        typer.echo(" ".join(set_options(found.config)))
        return
    typer.echo(config_yaml(found), nl=False)
