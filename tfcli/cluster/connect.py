"""Connecting to Ray: an embedded local one, or a cluster that must answer quickly.

An embedded Ray (``connect()`` with no address) serves this process only: it listens on
loopback, and :func:`disconnect` removes the session folder it left under Ray's temp folder.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

from tfcli.cluster.checks import alive_nodes, auth_hint, requested_runtime_env
from tfcli.cluster.ray_internals import TOKEN_SETUP_LOGGER, loopback_only
from tfcli.errors import ClusterError

#: Seconds to wait for a Ray cluster to answer before giving up.
CONNECT_TIMEOUT_S = 20

#: The session folder of the embedded Ray this process started, while it runs.
_embedded_session: dict[str, Optional[Path]] = {"dir": None}


def _split_address(address: str) -> tuple[str, int] | None:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        return None
    return host.strip("[]") or "127.0.0.1", int(port)


def check_address(address: str | None) -> None:
    """Refuse, before anything is written, an address tfcli cannot join: a Ray Client
    address (``ray://``, as ``--address`` or ``RAY_ADDRESS``), or a HOST:PORT where nothing
    listens. ``study start`` checks this before it creates the study's parent run, so a typo
    in ``--address`` leaves no study behind."""
    given = address
    address = address or os.environ.get("RAY_ADDRESS") or "local"
    if address.startswith("ray://"):
        where = f"--address {address}" if given else f"RAY_ADDRESS is {address}"
        raise ClusterError(
            f"Ray Client addresses are not supported, but {'got ' if given else ''}{where}; "
            "give the head node's GCS address (HOST:6379) or use `tfcli cluster submit`"
        )
    if address not in ("local", "auto"):
        _reachable(address)


def _reachable(address: str) -> None:
    """ClusterError in one line when nothing accepts a TCP connection at HOST:PORT."""
    hostport = _split_address(address)
    if hostport is None:
        return
    try:
        socket.create_connection(hostport, timeout=5).close()
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise ClusterError(
            f"cannot reach a Ray cluster at {address}: {reason.lower()}; "
            "start one with `ray start --head` or check --address (HOST:6379)"
        ) from None


def _probe_cluster(address: str) -> None:
    """Fail fast, in one line, when nothing answers at ``address``.

    ``ray.init(address=...)`` waits minutes for an address where no Ray cluster answers
    (measured on Ray 2.60: over 80 s for a closed or foreign port, and no setting shortens
    it safely), so: a TCP connect first, then a trial connection in a subprocess that is
    killed after :data:`CONNECT_TIMEOUT_S`.
    """
    _reachable(address)
    code = "import ray, sys; ray.init(address=sys.argv[1], log_to_driver=False, logging_level='ERROR')"
    try:
        done = subprocess.run(
            [sys.executable, "-c", code, address],
            capture_output=True,
            text=True,
            timeout=CONNECT_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as err:
        hint = auth_hint(address, err.stderr)
        if hint:
            raise ClusterError(hint) from None
        raise ClusterError(
            f"no Ray cluster answered at {address} within {CONNECT_TIMEOUT_S} s; "
            "check that --address names the head node's GCS port (default 6379)"
        ) from None
    if done.returncode != 0:
        hint = auth_hint(address, done.stderr)
        if hint:
            raise ClusterError(hint)
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if re.match(r"^[\w.]*(Error|Exception)\b", line)]
        last = (errors or lines or [f"exit code {done.returncode}"])[-1]
        raise ClusterError(f"cannot connect to the Ray cluster at {address}: {last[:300]}")


def connect(address: str | None = None) -> bool:
    """Make sure Ray runs; True when this call started or joined it (and should shut it down).

    Already initialised: use that. ``address`` None or ``"local"``: an embedded Ray with all
    CPUs of this machine, listening on loopback only (``RAY_ADDRESS``, when set, counts as
    ``--address``). Otherwise join the cluster at ``address`` (``HOST:PORT`` or ``auto``), or
    raise ClusterError in one line within about 30 s. End with :func:`disconnect` when this
    returned True: it also removes an embedded Ray's session folder.
    """
    import ray

    if address and address.startswith("ray://"):
        check_address(address)
    if ray.is_initialized():
        return False
    check_address(address)
    address = address or os.environ.get("RAY_ADDRESS") or "local"
    if address == "local":
        _start_embedded()
        return True
    _probe_cluster(address)
    try:
        ray.init(address=address, runtime_env=requested_runtime_env(), log_to_driver=False, logging_level=logging.WARNING)
    except Exception as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ClusterError(f"cannot connect to the Ray cluster at {address}: {first}") from None
    return True


def _start_embedded() -> None:
    """Start an embedded Ray on loopback with all CPUs, and remember its session folder."""
    import ray

    # Ray 2.60 warns on every start that token authentication is on; for a Ray that
    # lives and dies with this process that is noise.
    quiet = logging.getLogger(TOKEN_SETUP_LOGGER)
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with loopback_only():
            context = ray.init(
                address="local",
                num_cpus=os.cpu_count() or 1,
                include_dashboard=False,
                log_to_driver=False,
                ignore_reinit_error=True,
                logging_level=logging.WARNING,
            )
    finally:
        quiet.setLevel(level)
    # ``address_info`` of the RayContext that ray.init returns names the processes it started.
    info = getattr(context, "address_info", None)
    session = info.get("session_dir") if isinstance(info, dict) else None
    _embedded_session["dir"] = Path(session) if session else None


def disconnect() -> None:
    """Shut Ray down (as ``ray.shutdown()``); for an embedded Ray that :func:`connect`
    started, also remove the session folder it left under Ray's temp folder (``/tmp/ray``).

    Only that one folder (and ``session_latest`` when it points there): other sessions
    under the temp folder may belong to other processes or users. A Ray cluster this
    process joined keeps its folders.
    """
    import ray

    ray.shutdown()
    session, _embedded_session["dir"] = _embedded_session["dir"], None
    if session is not None:
        remove_session_dir(session)


def remove_session_dir(session: Path, *, timeout_s: float = 5.0) -> None:
    """Remove a Ray session folder after its Ray was shut down.

    Ray's processes may still write a last log line while they exit, so removal is retried
    until the folder stays gone or ``timeout_s`` passes; whatever remains is left quietly
    (it is temporary data).
    """
    if not session.name.startswith("session_"):
        return  # not a Ray session folder: never remove what Ray did not name
    latest = session.parent / "session_latest"
    try:
        if latest.is_symlink() and Path(os.readlink(latest)).name == session.name:
            latest.unlink()
    except OSError:
        pass
    deadline = time.monotonic() + timeout_s
    while session.exists() and time.monotonic() < deadline:
        shutil.rmtree(session, ignore_errors=True)
        if session.exists():
            time.sleep(0.2)


def join_cluster(address: str) -> bool:
    """Join the Ray cluster at ``address`` as :func:`connect` does, with
    :func:`~tfcli.cluster.checks.requested_runtime_env`; True when this call connected (and
    should shut down)."""
    import ray

    if ray.is_initialized():
        return False
    if address.startswith("ray://"):
        raise ClusterError(
            f"Ray Client addresses are not supported, but got --address {address}; give the head node's GCS address (HOST:6379)"
        )
    _probe_cluster(address)
    try:
        ray.init(address=address, runtime_env=requested_runtime_env(), log_to_driver=False, logging_level=logging.WARNING)
    except Exception as err:  # noqa: BLE001 - any failure to join is the user's to fix
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ClusterError(f"cannot connect to the Ray cluster at {address}: {first[:300]}") from None
    return True


def wait_for_nodes(address: str, count: int, *, timeout_s: float = 300.0) -> int:
    """Wait until the cluster at ``address`` has ``count`` alive nodes; return how many it has.

    For batch scripts that start a head and workers and must not start a study before all
    have joined. The head may not be up yet: its port is polled first.
    """
    deadline = time.monotonic() + timeout_s
    hostport = _split_address(address) if address != "auto" else None
    while hostport is not None:
        try:
            socket.create_connection(hostport, timeout=2).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"the Ray head must be up within {timeout_s:.0f} s, but nothing listens at {address}"
                ) from None
            time.sleep(1.0)
    started = connect(address)
    try:
        while True:
            alive = len(alive_nodes())
            if alive >= count:
                return alive
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"{count} Ray nodes must join within {timeout_s:.0f} s, but {alive} did at {address}; "
                    "check the worker nodes' logs (`ray start --address ...`)"
                )
            time.sleep(1.0)
    finally:
        if started:
            disconnect()
