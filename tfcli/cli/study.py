"""``tfcli study``: create, check, show and run study files."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Optional

import typer
import yaml
from rich.table import Table

from tfcli.cli import study_manage
from tfcli.cli.options import (
    AddressOption,
    FormatOption,
    MaxConcurrentOption,
    NumSamplesOption,
    StorageOption,
    StudyFileArgument,
    StudyNameArgument,
    TrackingUriOption,
)
from tfcli.cli.output import OutputFormat, console, print_json
from tfcli.cli.study_live import StudyLive
from tfcli.data.profile import read_data
from tfcli.data.profile_sizing import size_template
from tfcli.errors import DataError, StudySpecError
from tfcli.records import TrialState
from tfcli.cluster.signals import EXIT_TERMINATED, terminated
from tfcli.spec.describe import resolved, scheduler_summary, space_size, space_summary, trial_count
from tfcli.spec.load import check_spec_file, load_spec
from tfcli.spec.schema import DataSpec, StudySpec
from tfcli.spec.templates import data_template_text, template_path, write_template
from tfcli.study.lifecycle import (
    NothingToResume,
    check_data_files,
    check_new_study,
    confirm_study,
    extend_study,
    load_stored_study,
    planned_trials,
    resume_study,
    start_study,
)
from tfcli.tracking import check_tracking, list_studies, readable_tracking, resolve_tracking, trial_records

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None)


@app.command("init")
def init(
    name: Annotated[str, typer.Argument(help="Study name; writes studies/NAME.yaml.")],
    task: Annotated[str, typer.Option("--task", "-t", help="translation, summarization, classification or qa.")],
    directory: Annotated[Path, typer.Option("--dir", help="Folder for the study file.")] = Path("studies"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    data: Annotated[Optional[Path], typer.Option("--data", help="Training data file: size the template from it.")] = None,
    valid: Annotated[Optional[Path], typer.Option("--valid", help="Validation data file (with --data).")] = None,
    test: Annotated[Optional[Path], typer.Option("--test", help="Test data file (with --data).")] = None,
) -> None:
    """Write a commented study template for TASK that validates as it is; with --data, one sized from the data."""
    text = None
    if data is None and (valid or test):
        raise DataError("--valid and --test go with --data TRAIN")
    if data is not None:
        files = {split: f for split, f in (("train", data), ("valid", valid), ("test", test)) if f is not None}
        home = template_path(name, directory, force=force).parent.resolve()
        sizes = size_template(read_data(task, {split: str(f) for split, f in files.items()}, DataSpec()))
        relative = {split: Path(os.path.relpath(f.resolve(), home)).as_posix() for split, f in files.items()}
        text = data_template_text(name, task, sizes, relative)
    path = write_template(name, task, directory, force=force, text=text)
    console().print(f"Wrote {path}. Next: tfcli study validate {path}")


@app.command("validate")
def validate(
    file: StudyFileArgument,
    output: FormatOption = OutputFormat.table,
) -> None:
    """Check a study file and report every problem as FILE:LINE: field.path: message."""
    spec, problems = check_spec_file(file)
    data_error = None
    if not problems:
        try:
            check_data_files(spec)
        except DataError as err:
            data_error = str(err)
    if output is OutputFormat.json:
        errors = [p.to_dict() for p in problems] + ([{"file": None, "line": None, "path": "task.data", "message": data_error}] if data_error else [])
        print_json({"valid": not errors, "errors": errors})
        if errors:
            raise typer.Exit(2)
        return
    if problems:
        raise StudySpecError(problems)
    if data_error:
        raise DataError(data_error)
    console().print(f"{file}: valid study {spec.name!r} ({spec.task.type}; {space_summary(spec)})")


@app.command("show")
def show(
    file: StudyFileArgument,
    output: FormatOption = OutputFormat.table,
) -> None:
    """Print the resolved study, with every default filled in, and the size of its search space."""
    spec = load_spec(file)
    if output is OutputFormat.json:
        size = space_size(spec)
        print_json(
            {
                "study": resolved(spec),
                "space": {
                    "method": spec.search.method,
                    "size": size if size is not None else "continuous",
                    "trials": trial_count(spec),
                },
            }
        )
        return
    out = console()
    out.print(yaml.safe_dump(resolved(spec), sort_keys=False).rstrip(), markup=False)
    out.print(f"\n# search space: {space_summary(spec)}", markup=False)


@app.command("schema")
def schema() -> None:
    """Print the JSON Schema of study files, for editors."""
    typer.echo(json.dumps(StudySpec.model_json_schema(), indent=2))


EXIT_TRIALS_FAILED = 1
EXIT_INTERRUPTED = 130


def study_summary(outcome, name: str, search_seed: int | None = None) -> dict:
    """How a study run went, as ``--format json`` prints it and the closing lines say it."""
    states = {state.value: 0 for state in TrialState}
    for trial in outcome.trials:
        states[trial.status.label] += 1
    best = outcome.best_trial
    return {
        "study": name,
        "experiment": outcome.name,
        "trials": len(outcome.trials),
        "states": states,
        "elapsed_s": round(outcome.elapsed_s, 1),
        "objective": {"metric": outcome.metric, "mode": outcome.mode},
        "best": {"trial": best.label, "trial_id": best.trial_id, "value": best.best, "config": dict(best.config)} if best and best.best is not None else None,
        "failures": [{"trial": t.label, "trial_id": t.trial_id, "error": t.error} for t in outcome.trials if t.status.is_failure],
        "not_recorded": list(outcome.lost_work),
        "notes": list(outcome.notes),
        "stopped_early": outcome.stopped_early,
        "search_seed": search_seed,
        "interrupted": bool(outcome.interrupted or outcome.unfinished),
        "next": f"tfcli study resume {name}" if outcome.interrupted or outcome.unfinished else f"tfcli report {name}",
    }


def _finish(outcome, name: str, screen, output: OutputFormat = OutputFormat.table, search_seed: int | None = None) -> None:
    """Say how the study went (lines, or one JSON object on stdout) and exit 0 (all finished),
    1 (some failed or a result was not recorded), 130 (interrupted) or 143 (stopped by SIGTERM)."""
    summary = study_summary(outcome, name, search_seed)
    if output is OutputFormat.json:
        print_json(summary)
    else:
        states = summary["states"]
        best = summary["best"]
        best_text = f"; best {outcome.metric} {best['value']:.3f} (trial {best['trial']})" if best else ""
        counts = ", ".join(f"{n} {state}" for state, n in states.items() if state != TrialState.RUNNING.value)
        screen.print(f"{name}: {counts} in {outcome.elapsed_s:.0f}s{best_text}")
        if summary["stopped_early"]:
            screen.print(f"Ended early: {summary['stopped_early']}", markup=False)
        for failure in summary["failures"]:
            if failure["error"]:
                screen.print(f"  trial {failure['trial']} failed: {failure['error']}", markup=False)
        lost = summary["not_recorded"]
        if lost:
            screen.print(f"{len(lost)} result(s) could not be recorded in MLflow:")
        for line in lost:
            screen.print(f"  not recorded: {line}", markup=False)
        for note in summary["notes"]:
            screen.print(f"Note: {note}", markup=False)
        screen.print(("Interrupted; continue with: " if summary["interrupted"] else "Report: ") + summary["next"])
    if summary["interrupted"]:
        raise typer.Exit(EXIT_TERMINATED if terminated() else EXIT_INTERRUPTED)
    if summary["failures"] or summary["not_recorded"]:
        raise typer.Exit(EXIT_TRIALS_FAILED)


@app.command("start")
def start(
    file: StudyFileArgument,
    address: AddressOption = None,
    num_samples: NumSamplesOption = None,
    max_concurrent: MaxConcurrentOption = None,
    storage: StorageOption = None,
    tracking_uri: TrackingUriOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the first configurations and the space size; run nothing.")] = False,
    no_baselines: Annotated[
        bool, typer.Option("--no-baselines", help="Skip the reference baselines (tfcli baseline) on the parent run.")
    ] = False,
    output: FormatOption = OutputFormat.table,
) -> None:
    """Run every trial of a study on Ray Tune and record it in MLflow."""
    spec = load_spec(file)
    drawn = spec.search.seed is None
    spec = spec.with_search_seed()
    screen = console(stderr=output is OutputFormat.json)
    if drawn:
        screen.print(f"search.seed: {spec.search.seed} (drawn; put `seed: {spec.search.seed}` under search: to repeat this study)")
    if dry_run:
        _print_dry_run(spec, num_samples, screen, output)
        return
    tracking = check_new_study(spec, tracking_uri, num_samples=num_samples, max_concurrent=max_concurrent, address=address)
    total = trial_count(spec, num_samples)
    screen.print(f"Study {spec.name}: {spec.task.type}, {space_summary(spec)}; {scheduler_summary(spec)}; MLflow store {tracking.uri}")
    live = StudyLive(screen, spec, total)
    with live:
        outcome = start_study(
            spec, tracking, storage=storage, address=address, num_samples=num_samples, max_concurrent=max_concurrent,
            progress=live, baselines=not no_baselines,
        )
    _finish(outcome, spec.name, screen, output, spec.search.seed)


def _print_dry_run(spec, num_samples: int | None, screen, output: OutputFormat = OutputFormat.table) -> None:
    from tfcli.study.space_dry_run import describe_trials  # Ray Tune's searchers: only for a dry run

    total = trial_count(spec, num_samples)
    shown = min(total, 10)
    rows = describe_trials(spec, shown)
    if output is OutputFormat.json:
        print_json({
            "study": spec.name, "space": space_summary(spec), "trials": total, "search_seed": spec.search.seed,
            "method": spec.search.method, "first_configs": rows,
        })
        return
    screen.print(f"{spec.name}: {space_summary(spec)}; {total} trials; showing the first {len(rows)}")
    table = Table(title=None)
    table.add_column("#", justify="right")
    names = list(spec.search.parameters)
    for name in names:
        table.add_column(name, justify="right")
    for index, row in enumerate(rows, 1):
        table.add_row(str(index), *(_cell(row.get(n, "")) for n in names))
    screen.print(table)


def _stored_study(name: str, tracking_uri: Optional[str], output: OutputFormat = OutputFormat.table):
    """(tracking, the stored study, the console) for a command that continues a study; under
    ``--format json`` the console is stderr, so stdout holds only the summary."""
    tracking = check_tracking(resolve_tracking(tracking_uri))
    return tracking, load_stored_study(tracking, name), console(stderr=output is OutputFormat.json)


@app.command("resume")
def resume(
    name: StudyNameArgument,
    address: AddressOption = None,
    storage: StorageOption = None,
    tracking_uri: TrackingUriOption = None,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Also retry trials that errored, from their last checkpoint.")] = False,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Ray's state is lost or damaged: run the unfinished trials again from MLflow's records.")
    ] = False,
    output: FormatOption = OutputFormat.table,
) -> None:
    """Continue an interrupted study without re-running finished trials."""
    tracking, stored, screen = _stored_study(name, tracking_uri, output)
    screen.print(f"Resuming study {name} from {tracking.uri}")
    records = trial_records(tracking, name, history=False)
    live = StudyLive(screen, stored.spec, planned_trials(stored, len(records)))
    # A rebuild deletes the unfinished trials' runs; their configurations run again under new ids.
    live.show_records([r for r in records if not rebuild or r.state.is_final])
    try:
        with live:
            outcome = resume_study(
                name, tracking, address=address, storage=storage, retry_failed=retry_failed, rebuild=rebuild, progress=live
            )
    except NothingToResume as ended:
        screen.print(str(ended))
        if output is OutputFormat.json:
            print_json({"study": name, "nothing_to_do": str(ended)})
        return
    _finish(outcome, name, screen, output, stored.spec.search.seed)


@app.command("extend")
def extend(
    name: StudyNameArgument,
    num_samples: Annotated[int, typer.Option("--num-samples", min=1, help="How many more trials.")],
    address: AddressOption = None,
    max_concurrent: MaxConcurrentOption = None,
    storage: StorageOption = None,
    tracking_uri: TrackingUriOption = None,
    output: FormatOption = OutputFormat.table,
) -> None:
    """Run N more trials under the same parent run, the searcher warm-started from finished ones."""
    tracking, stored, screen = _stored_study(name, tracking_uri, output)
    with StudyLive(screen, stored.spec, num_samples) as live:
        outcome, warm = extend_study(
            name, tracking, num_samples=num_samples, address=address, storage=storage, max_concurrent=max_concurrent, progress=live
        )
    screen.print(f"Searcher warm-started from {warm} finished trial(s).")
    _finish(outcome, name, screen, output, stored.spec.search.seed)


@app.command("confirm")
def confirm(
    name: StudyNameArgument,
    top: Annotated[int, typer.Option("--top", help="How many of the best trials to retrain.")] = 3,
    seeds: Annotated[int, typer.Option("--seeds", help="Fresh seeds per configuration (at least 2).")] = 3,
    address: AddressOption = None,
    max_concurrent: MaxConcurrentOption = None,
    storage: StorageOption = None,
    tracking_uri: TrackingUriOption = None,
    output: FormatOption = OutputFormat.table,
) -> None:
    """Retrain the top trials' configurations with fresh seeds: does the winner hold up?"""
    tracking, stored, screen = _stored_study(name, tracking_uri, output)
    try:
        with StudyLive(screen, stored.spec, top * seeds) as live:
            outcome, started = confirm_study(
                name, tracking, top=top, seeds=seeds, address=address, storage=storage, max_concurrent=max_concurrent, progress=live
            )
    except NothingToResume as done:
        screen.print(str(done))
        if output is OutputFormat.json:
            print_json({"study": name, "nothing_to_do": str(done)})
        return
    screen.print(f"Confirmation: {started} run(s) of the top {top} configuration(s) with fresh seeds.")
    _finish(outcome, name, screen, output, stored.spec.search.seed)


@app.command("list")
def list_(tracking_uri: TrackingUriOption = None, output: FormatOption = OutputFormat.table) -> None:
    """The studies in the tracking store."""
    tracking = readable_tracking(tracking_uri)
    studies = list_studies(tracking)
    if output is OutputFormat.json:
        print_json({"tracking_uri": tracking.uri, "studies": [s.to_dict() for s in studies]})
        return
    table = Table(title=f"Studies in {tracking.uri}")
    for column in ("name", "task", "status", "trials", "objective", "best", "started"):
        table.add_column(column)
    for s in studies:
        counts = ", ".join(f"{n} {state}" for state, n in s.states.items() if n)
        best = f"{s.best_value:.3f}" if s.best_value is not None else ""
        started = s.start_time.strftime("%Y-%m-%d %H:%M") if s.start_time else ""
        table.add_row(s.name, s.task or "", s.status, counts, f"{s.objective_metric} ({s.objective_mode})", best, started)
    console().print(table)


@app.command("status")
def status(
    name: StudyNameArgument,
    tracking_uri: TrackingUriOption = None,
    output: FormatOption = OutputFormat.table,
) -> None:
    """The trials of one study, with their status and best objective."""
    tracking = readable_tracking(tracking_uri)
    stored = load_stored_study(tracking, name)
    records = trial_records(tracking, name, history=False)
    if output is OutputFormat.json:
        print_json({"study": stored.record.to_dict(), "trials": [r.to_dict() for r in records]})
        return
    spec = stored.spec
    params = list(spec.search.parameters)
    table = Table(title=f"{name}: {spec.primary_objective.metric} ({spec.primary_objective.mode})")
    for column in ("trial", "state", *params, "step", spec.primary_objective.metric):
        table.add_column(column)
    for r in records:
        value = f"{r.objective_value:.3f}" if r.objective_value is not None else ""
        table.add_row(
            r.label, r.state.value,
            *(_cell(dict(r.config).get(p, "")) for p in params), str(r.last_step or ""), value,
        )
    console().print(table)


def _cell(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


study_manage.register(app)
