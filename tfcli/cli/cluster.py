"""``tfcli cluster``: studies on clusters: Ray jobs, SLURM scripts, and checks of a Ray cluster."""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from tfcli.cluster.checks import run_node_checks, verdict
from tfcli.cluster.connect import join_cluster, wait_for_nodes
from tfcli.cluster.jobs import follow_logs, job_logs, job_state, stop_job, submit_study
from tfcli.cluster.slurm import SlurmOptions, sbatch_script
from tfcli.spec.load import load_spec
from tfcli.study.storage import default_storage

from tfcli.cli.options import FormatOption, MaxConcurrentOption, NumSamplesOption, StudyFileArgument
from tfcli.cli.output import OutputFormat, console, print_json

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None)

JobServerOption = Annotated[
    Optional[str],
    typer.Option("--address", help="Ray job server, http://HEAD:8265 (default: $RAY_API_SERVER_ADDRESS, else $RAY_ADDRESS)."),
]
TrackingOption = Annotated[
    Optional[str],
    typer.Option("--tracking-uri", help="MLflow store the cluster reaches: http://HOST:5000 or sqlite:////abs/path (default: $MLFLOW_TRACKING_URI)."),
]
StorageOption = Annotated[
    Optional[str],
    typer.Option("--storage", help="Ray's storage for the study on the cluster: a shared absolute path or s3://... (default: the job's folder)."),
]

EXIT_JOB_FAILED = 1


def _time(ms: int | None) -> str:
    if not ms:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _write(chunk: str) -> None:
    sys.stdout.write(chunk)
    sys.stdout.flush()


def _follow(address: Optional[str], job_id: str) -> None:
    """Stream a job's logs until it ends; exit 1 unless it SUCCEEDED. Ctrl-C leaves it running."""
    try:
        state = follow_logs(address, job_id, _write)
    except KeyboardInterrupt:
        console(stderr=True).print(f"Stopped following; job {job_id} keeps running (tfcli cluster stop {job_id} stops it).")
        raise typer.Exit(130) from None
    typer.echo(f"Job {job_id} {state.status}" + (f": {state.message}" if state.message and state.status != "SUCCEEDED" else ""), err=True)
    if state.status != "SUCCEEDED":
        raise typer.Exit(EXIT_JOB_FAILED)


@app.command("submit")
def submit(
    file: StudyFileArgument,
    address: JobServerOption = None,
    tracking_uri: TrackingOption = None,
    storage: StorageOption = None,
    num_samples: NumSamplesOption = None,
    max_concurrent: MaxConcurrentOption = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the job's logs until it ends (exit 1 unless it succeeded), or return at once.")] = True,
    ship_tfcli: Annotated[bool, typer.Option("--ship-tfcli", help="Send this tfcli package with the job (for clusters without it installed).")] = False,
    job_id: Annotated[Optional[str], typer.Option("--job-id", help="Submission id (default: tfcli-NAME-XXXXXXXX).")] = None,
) -> None:
    """Submit a study as a Ray job: the study file and its data files go with it; prints the job id."""
    job = submit_study(
        file, address=address, tracking_uri=tracking_uri, storage=storage, num_samples=num_samples,
        max_concurrent=max_concurrent, ship=ship_tfcli, job_id=job_id,
    )
    typer.echo(job.job_id)
    screen = console(stderr=True)
    sent = ", ".join([job.package.study_file, *job.package.data_files])
    screen.print(f"Submitted study {job.study} to {job.url} as job {job.job_id} (sent: {sent})", markup=False)
    for path in job.package.cluster_paths:
        screen.print(f"  note: the data file {path} must exist on the cluster", markup=False)
    if not storage:
        screen.print("  note: without --storage, Ray keeps the study's state in the job's folder; pass --storage to resume it later", markup=False)
    if not wait:
        screen.print(f"Follow it with: tfcli cluster logs {job.job_id} --follow --address {job.url}", markup=False)
        return
    _follow(job.url, job.job_id)


@app.command("status")
def status(
    job_id: Annotated[str, typer.Argument(help="Job id that `cluster submit` printed.")],
    address: JobServerOption = None,
    output: FormatOption = OutputFormat.table,
) -> None:
    """The status of a Ray job: PENDING, RUNNING, SUCCEEDED, FAILED or STOPPED."""
    state = job_state(address, job_id)
    if output is OutputFormat.json:
        print_json(state.to_dict())
        return
    table = Table(show_header=False, title=f"Job {job_id} at {state.url}")
    table.add_column("field")
    table.add_column("value")
    rows = [
        ("status", state.status), ("study", state.metadata.get("tfcli.study", "")), ("message", state.message or ""),
        ("entrypoint", state.entrypoint), ("started", _time(state.start_time)), ("ended", _time(state.end_time)),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console().print(table, markup=False)


@app.command("logs")
def logs(
    job_id: Annotated[str, typer.Argument(help="Job id that `cluster submit` printed.")],
    address: JobServerOption = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing until the job ends; exit 1 unless it succeeded.")] = False,
) -> None:
    """The output of a Ray job so far, or, with --follow, as it comes."""
    if follow:
        _follow(address, job_id)
        return
    _write(job_logs(address, job_id))


@app.command("stop")
def stop(
    job_id: Annotated[str, typer.Argument(help="Job id that `cluster submit` printed.")],
    address: JobServerOption = None,
) -> None:
    """Stop a Ray job (its study can be resumed later with `tfcli study resume`)."""
    if stop_job(address, job_id):
        typer.echo(f"Stopping job {job_id}.")
    else:
        typer.echo(f"Job {job_id} had already ended.")


@app.command("slurm")
def slurm(
    file: StudyFileArgument,
    nodes: Annotated[int, typer.Option("--nodes", "-N", min=1, help="Nodes to allocate; the first runs the Ray head and the study's driver.")],
    time: Annotated[str, typer.Option("--time", "-t", help="Wall-clock limit, HH:MM:SS or D-HH:MM:SS.")],
    cpus_per_node: Annotated[int, typer.Option("--cpus-per-node", "-c", min=1, help="CPUs per node given to Ray.")] = 8,
    gpus_per_node: Annotated[int, typer.Option("--gpus-per-node", "-G", min=0, help="GPUs per node given to Ray.")] = 0,
    partition: Annotated[Optional[str], typer.Option("--partition", "-p", help="SLURM partition.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write the script here (default: print it).")] = None,
    storage: Annotated[Optional[str], typer.Option("--storage", help="Ray's storage, on a file system every node shares (default: ./mlruns/ray in the submit folder).")] = None,
    tracking_uri: Annotated[Optional[str], typer.Option("--tracking-uri", help="MLflow store (default: ./mlruns in the submit folder).")] = None,
    num_samples: NumSamplesOption = None,
    max_concurrent: MaxConcurrentOption = None,
    setup: Annotated[Optional[list[str]], typer.Option("--setup", help="Shell line run first on the nodes, e.g. 'module load cuda' (repeatable; default: activate this virtualenv).")] = None,
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Ray head port.")] = 6379,
    exclusive: Annotated[bool, typer.Option("--exclusive/--shared", help="Ask for whole nodes (Ray's fixed ports must not meet another job's).")] = True,
) -> None:
    """Write an sbatch script: a Ray cluster across the allocation, then the study on it."""
    spec = load_spec(file)
    options = SlurmOptions(
        nodes=nodes, cpus_per_node=cpus_per_node, gpus_per_node=gpus_per_node, time=time, partition=partition,
        port=port, exclusive=exclusive, setup=list(setup or []), storage=storage, tracking_uri=tracking_uri,
        num_samples=num_samples, max_concurrent=max_concurrent,
    )
    script = sbatch_script(file, spec, options)
    if out is None:
        _write(script)
        return
    out.write_text(script)
    out.chmod(0o755)
    console(stderr=True).print(f"Wrote {out}. Submit with: sbatch {out}", markup=False)


@app.command("wait")
def wait_(
    address: Annotated[str, typer.Option("--address", help="The Ray cluster, HOST:PORT (the head's GCS port) or auto.")],
    nodes: Annotated[int, typer.Option("--nodes", "-N", min=1, help="Wait until this many nodes are alive.")],
    timeout: Annotated[float, typer.Option("--timeout", min=1, help="Give up after this many seconds (exit 2).")] = 300.0,
) -> None:
    """Wait until a Ray cluster has N alive nodes (for batch scripts)."""
    alive = wait_for_nodes(address, nodes, timeout_s=timeout)
    typer.echo(f"{alive} Ray node(s) alive at {address}")


@app.command("check")
def check(
    address: Annotated[str, typer.Option("--address", help="The Ray cluster, HOST:PORT (the head's GCS port) or auto.")],
    storage: Annotated[Optional[str], typer.Option("--storage", help="Ray's storage to check (default: ./mlruns/ray).")] = None,
    output: FormatOption = OutputFormat.table,
) -> None:
    """Check a Ray cluster before a study: tfcli on every node, and shared storage on several."""
    storage = storage or default_storage()
    import ray

    started = join_cluster(address)
    try:
        checks = run_node_checks(storage)
    finally:
        if started:
            ray.shutdown()
    if output is OutputFormat.json:
        print_json({"address": address, "storage": storage, "nodes": [c.to_dict() for c in checks]})
    else:
        table = Table(title=f"Ray cluster at {address}: {len(checks)} node(s)")
        for column in ("node", "address", "host", "tfcli", "torch", "storage"):
            table.add_column(column)
        for c in checks:
            seen = {None: "not needed", True: "shared", False: "NOT VISIBLE"}[c.sees_storage]
            table.add_row(
                c.node_id[:8], c.ip, c.host or "", c.tfcli_version or f"missing ({c.import_error})",
                {True: "yes", False: "no", None: "?"}[c.has_torch], seen if not c.storage_error else f"not writable ({c.storage_error})",
            )
        console().print(table, markup=False)
    verdict(checks, storage)
