"""``tfcli ui``: the MLflow UI on the study store, bound to loopback unless told otherwise."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
import urllib.request
import webbrowser
from typing import Annotated

import typer

from tfcli.cli.options import TrackingUriOption
from tfcli.errors import UserError
from tfcli.tracking import check_tracking, list_studies, resolve_tracking, study_url, ui_command


def register(app: typer.Typer) -> None:
    app.command("ui")(ui)


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _check_port(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds: TIME_WAIT is no conflict
        try:
            probe.bind((host, port))
        except OSError as err:
            raise UserError(f"--port must be free on {host}, but port {port} is taken ({err.strerror or err}); choose another with --port") from None


def _open_when_up(health: str, url: str, server) -> None:
    """Open ``url`` in the user's browser from a thread, once ``health`` answers."""
    def wait_then_open() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(health, timeout=2):  # noqa: S310 - our own server
                    webbrowser.open(url)
                    return
            except OSError:
                time.sleep(0.5)

    threading.Thread(target=wait_then_open, daemon=True).start()


def _print_views(header: str, base: str, studies, open_browser: bool = False) -> None:
    """The UI's address and each study's runs view; with ``open_browser``, open the first (a server's UI)."""
    typer.echo(header)
    for study in studies:
        typer.echo(f"  {study.name}: {study_url(base, study.experiment_id)}")
    if not studies:
        typer.echo("  (no studies in this store yet)")
    if open_browser:
        webbrowser.open(study_url(base, studies[0].experiment_id) if studies else base)


def ui(
    port: Annotated[int, typer.Option("--port", "-p", help="Port to serve on.", min=1, max=65535)] = 5000,
    host: Annotated[str, typer.Option("--host", help="Interface to bind; 127.0.0.1 keeps it on this machine, 0.0.0.0 opens it to the network.")] = "127.0.0.1",
    workers: Annotated[int, typer.Option("--workers", help="Server worker processes.", min=1)] = 1,
    tracking_uri: TrackingUriOption = None,
    open_browser: Annotated[bool, typer.Option("--open", help="Open the first study's runs in a browser once the server answers.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", help="Show the server's own log (a line per request).")] = False,
) -> None:
    """Serve the MLflow UI on the study store and print the runs view of each study.

    A tracking server already serves it: its address and the studies' runs views are printed.
    """
    tracking = check_tracking(resolve_tracking(tracking_uri))
    if tracking.is_remote:
        _print_views(f"MLflow UI of the server {tracking.uri}", tracking.uri.rstrip("/"), list_studies(tracking), open_browser)
        return
    command = ui_command(tracking, host=host, port=port, workers=workers, verbose=verbose)
    _check_port(host, port)
    base = f"http://{_url_host(host)}:{port}"
    studies = list_studies(tracking)
    _print_views(f"MLflow UI on {tracking.uri} at {base}  (Ctrl+C stops it)", base, studies)
    if host not in ("127.0.0.1", "localhost", "::1"):
        typer.echo(f"Note: bound to {host}: anyone who can reach this machine can read (and write) the store.", err=True)
    # The server stays in this process group, so stopping the group stops it too.
    server = subprocess.Popen(command, env={**os.environ, "MLFLOW_TRACKING_URI": tracking.uri})
    previous = signal.signal(signal.SIGTERM, lambda *_: server.terminate())
    if open_browser:
        _open_when_up(f"{base}/health", study_url(base, studies[0].experiment_id) if studies else base, server)
    try:
        code = server.wait()
    except KeyboardInterrupt:
        server.terminate()
        try:
            code = server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            code = server.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
    if code not in (0, -signal.SIGTERM, -signal.SIGINT):
        raise typer.Exit(1)
