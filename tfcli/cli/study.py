"""``tfcli study``: create, check, show and run study files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tfcli.cli.render import OutputFormat, console, print_json

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None)

TASK_CHOICES = ("translation", "summarization", "classification", "qa")

FormatOption = Annotated[OutputFormat, typer.Option("--format", "-f", help="table for people, json for scripts.")]


@app.command("init")
def init(
    name: Annotated[str, typer.Argument(help="Study name; writes studies/NAME.yaml.")],
    task: Annotated[str, typer.Option("--task", "-t", help="translation, summarization, classification or qa.")],
    directory: Annotated[Path, typer.Option("--dir", help="Folder for the study file.")] = Path("studies"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented study template for TASK that validates as it is."""
    from tfcli.study.templates import write_template

    path = write_template(name, task, directory, force=force)
    console().print(f"Wrote {path}. Next: tfcli study validate {path}")


@app.command("validate")
def validate(
    file: Annotated[Path, typer.Argument(help="Study file (YAML).")],
    output: FormatOption = OutputFormat.table,
) -> None:
    """Check a study file and report every problem as FILE:LINE: field.path: message."""
    from tfcli.errors import StudySpecError
    from tfcli.study.describe import space_summary
    from tfcli.study.load import check_spec_file

    spec, problems = check_spec_file(file)
    if output is OutputFormat.json:
        print_json({"valid": not problems, "errors": [p.to_dict() for p in problems]})
        if problems:
            raise typer.Exit(2)
        return
    if problems:
        raise StudySpecError(problems)
    console().print(f"{file}: valid study {spec.name!r} ({spec.task.type}; {space_summary(spec)})")


@app.command("show")
def show(
    file: Annotated[Path, typer.Argument(help="Study file (YAML).")],
    output: FormatOption = OutputFormat.table,
) -> None:
    """Print the resolved study, with every default filled in, and the size of its search space."""
    import yaml

    from tfcli.study.describe import resolved, space_size, space_summary, trial_count
    from tfcli.study.load import load_spec

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
    import json

    from tfcli.study.spec import StudySpec

    typer.echo(json.dumps(StudySpec.model_json_schema(), indent=2))
