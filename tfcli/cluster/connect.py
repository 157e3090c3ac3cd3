"""Connecting to Ray: an embedded local one, or a cluster that must answer quickly."""

from __future__ import annotations

import logging
import os
import re
import socket
import subprocess
import sys
import time

from tfcli.cluster.checks import alive_nodes, auth_hint, requested_runtime_env
from tfcli.cluster.ray_internals import TOKEN_SETUP_LOGGER
from tfcli.errors import ClusterError

#: Seconds to wait for a Ray cluster to answer before giving up.
CONNECT_TIMEOUT_S = 20


def _split_address(address: str) -> tuple[str, int] | None:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        return None
    return host.strip("[]") or "127.0.0.1", int(port)


def _probe_cluster(address: str) -> None:
    """Fail fast, in one line, when nothing answers at ``address``.

    ``ray.init(address=...)`` waits minutes for an address where no Ray cluster answers
    (measured on Ray 2.60: over 80 s for a closed or foreign port, and no setting shortens
    it safely), so: a TCP connect first, then a trial connection in a subprocess that is
    killed after :data:`CONNECT_TIMEOUT_S`.
    """
    hostport = _split_address(address)
    if hostport is not None:
        try:
            socket.create_connection(hostport, timeout=5).close()
        except OSError as err:
            reason = err.strerror or type(err).__name__
            raise ClusterError(
                f"cannot reach a Ray cluster at {address}: {reason.lower()}; "
                "start one with `ray start --head` or check --address (HOST:6379)"
            ) from None
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
    CPUs of this machine (``RAY_ADDRESS``, when set, counts as ``--address``). Otherwise join
    the cluster at ``address`` (``HOST:PORT`` or ``auto``), or raise ClusterError in one line
    within about 30 s.
    """
    import ray

    if address and address.startswith("ray://"):
        raise ClusterError(
            f"Ray Client addresses are not supported, but got --address {address}; "
            "give the head node's GCS address (HOST:6379) or use `tfcli cluster submit`"
        )
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or "local"
    if address == "local":
        # Ray 2.60 warns on every start that token authentication is on; for a Ray that
        # lives and dies with this process that is noise.
        quiet = logging.getLogger(TOKEN_SETUP_LOGGER)
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            ray.init(
                address="local",
                num_cpus=os.cpu_count() or 1,
                include_dashboard=False,
                log_to_driver=False,
                ignore_reinit_error=True,
                logging_level=logging.WARNING,
            )
        finally:
            quiet.setLevel(level)
        return True
    if address.startswith("ray://"):  # from RAY_ADDRESS
        raise ClusterError(
            f"Ray Client addresses are not supported, but RAY_ADDRESS is {address}; "
            "give the head node's GCS address (HOST:6379) or use `tfcli cluster submit`"
        )
    _probe_cluster(address)
    try:
        ray.init(address=address, runtime_env=requested_runtime_env(), log_to_driver=False, logging_level=logging.WARNING)
    except Exception as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ClusterError(f"cannot connect to the Ray cluster at {address}: {first}") from None
    return True


def join_cluster(address: str) -> bool:
    """Join the Ray cluster at ``address`` as :func:`connect` does, with
    :func:`~tfcli.cluster.checks.requested_runtime_env`; True when this call connected (and
    should shut down)."""
    import logging

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
    import socket

    import ray

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
            ray.shutdown()
