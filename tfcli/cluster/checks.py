"""Pre-flight checks of an existing Ray cluster, run before any trial starts.

A study on a cluster fails late and confusingly when a node cannot import tfcli (every
trial on it errors with a pickling error) or when Ray's storage is a node-local folder on a
cluster of several nodes (since Ray 2.7 trials write checkpoints straight to the storage
path from their own node, so the driver never sees them and resume breaks). :func:`preflight`
checks both with one tiny task pinned to each alive node and turns a problem into one
:class:`~tfcli.errors.ClusterError` line that says what to set.

:func:`runtime_env_for_tfcli` is the opt-in for clusters without tfcli installed: a Ray
runtime environment that ships this process's tfcli package to every worker
(``py_modules``). Its dependencies (torch, Ray, ...) must still be installed on the nodes.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import tfcli
from tfcli.errors import ClusterError

#: Set to 1 to ship this tfcli to the cluster's workers in a Ray runtime environment.
SHIP_ENV = "TFCLI_SHIP_CODE"
#: Seconds to wait for the check task on every node (a node may first start a worker process).
PREFLIGHT_TIMEOUT_S = 60.0
MARKER_PREFIX = ".tfcli-preflight-"


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def package_dir() -> Path:
    """The folder of the tfcli package this process runs."""
    return Path(tfcli.__file__).resolve().parent


def runtime_env_for_tfcli() -> dict[str, Any]:
    """A Ray runtime environment that ships this tfcli package to every worker."""
    return {"py_modules": [str(package_dir())], "excludes": ["__pycache__", "*.pyc"]}


def shipping_requested() -> bool:
    """True when ``$TFCLI_SHIP_CODE`` asks to ship tfcli to the workers."""
    return _truthy(os.environ.get(SHIP_ENV))


def requested_runtime_env() -> dict[str, Any] | None:
    """What ``ray.init(runtime_env=...)`` should get when joining a cluster: the tfcli
    package when ``$TFCLI_SHIP_CODE`` is set, else None (the job's own environment)."""
    return runtime_env_for_tfcli() if shipping_requested() else None


def is_remote_storage(storage: str) -> bool:
    """A URI such as ``s3://`` or ``gs://`` (shared by nature); ``file://`` and paths are local."""
    return "://" in storage and not storage.lower().startswith("file://")


def local_storage_path(storage: str) -> Path:
    if storage.lower().startswith("file://"):
        storage = storage[len("file://") :]
    return Path(storage).expanduser().resolve()


@dataclass(frozen=True)
class NodeCheck:
    """What the check task found on one node."""

    node_id: str
    ip: str
    host: str | None = None
    tfcli_version: str | None = None
    import_error: str | None = None
    has_torch: bool | None = None
    sees_storage: bool | None = None  # None: not checked (one node, or a storage URI)
    storage_error: str | None = None

    @property
    def label(self) -> str:
        host = f", host {self.host}" if self.host else ""
        return f"node {self.node_id[:8]} ({self.ip}{host})"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _probe_function():
    """The check task. Built inside a function so that cloudpickle sends it by value: a node
    without tfcli can still run it and say so."""

    def probe(marker, token):
        import importlib.util
        import os
        import socket

        out = {"host": socket.gethostname()}
        try:
            import tfcli

            out["tfcli_version"] = getattr(tfcli, "__version__", "unknown")
        except Exception as err:  # noqa: BLE001 - any import failure is the finding
            out["import_error"] = f"{type(err).__name__}: {err}".splitlines()[0][:300]
        out["has_torch"] = importlib.util.find_spec("torch") is not None
        if marker:
            try:
                with open(marker, encoding="utf-8") as handle:
                    seen = handle.read() == token
            except OSError:
                seen = False
            out["sees_storage"] = seen
            if seen:  # trials write checkpoints there from this node: it must be writable too
                mine = f"{marker}.{os.getpid()}"
                try:
                    with open(mine, "w", encoding="utf-8") as handle:
                        handle.write("ok")
                    os.remove(mine)
                except OSError as err:
                    out["storage_error"] = f"{err.strerror or err}"
        return out

    return probe


def alive_nodes() -> list[dict[str, Any]]:
    import ray

    return [n for n in ray.nodes() if n.get("Alive")]


def run_node_checks(storage: str | None, *, timeout_s: float = PREFLIGHT_TIMEOUT_S) -> list[NodeCheck]:
    """Run the check task on every alive node of the connected Ray cluster.

    ``storage`` is checked (seen and writable from every node) when the cluster has more
    than one node and it is a local path; the driver writes a marker file there first.
    """
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    if not ray.is_initialized():
        raise RuntimeError("run_node_checks needs a connected Ray (ray.init first)")
    nodes = alive_nodes()
    if not nodes:
        raise ClusterError("the Ray cluster must have at least one alive node, but it has none")
    marker: Path | None = None
    token: str | None = None
    if storage and len(nodes) > 1 and not is_remote_storage(storage):
        folder = local_storage_path(storage)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            marker = folder / f"{MARKER_PREFIX}{uuid.uuid4().hex}"
            token = uuid.uuid4().hex
            marker.write_text(token, encoding="utf-8")
        except OSError as err:
            raise ClusterError(
                f"--storage must be a folder the driver can write, but {folder} cannot be written "
                f"({err.strerror or err})"
            ) from None
    try:
        remote = ray.remote(num_cpus=0, max_retries=0)(_probe_function())
        refs = {
            remote.options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False),
                name="tfcli_preflight",
            ).remote(str(marker) if marker else None, token): node
            for node in nodes
        }
        ready, pending = ray.wait(list(refs), num_returns=len(refs), timeout=timeout_s)
        if pending:
            late = refs[pending[0]]
            raise ClusterError(
                f"every Ray node must run a check task within {timeout_s:.0f} s, but node "
                f"{late['NodeID'][:8]} ({late.get('NodeManagerAddress')}) did not; check that it is healthy (`ray status`)"
            )
        checks = []
        for ref in ready:
            node = refs[ref]
            try:
                found = ray.get(ref)
            except Exception as err:  # noqa: BLE001 - a worker that cannot start, a lost node
                first = (str(err).strip().splitlines() or [type(err).__name__])[-1][:300]
                found = {"import_error": f"the check task failed: {first}"}
            checks.append(NodeCheck(node_id=node["NodeID"], ip=str(node.get("NodeManagerAddress", "?")), **found))
        return checks
    finally:
        if marker is not None:
            try:
                marker.unlink()
            except OSError:
                pass


def verdict(checks: list[NodeCheck], storage: str | None) -> None:
    """Raise one ClusterError line for the first problem the checks found."""
    for check in checks:
        if check.import_error:
            raise ClusterError(
                f"every Ray node must be able to import tfcli, but {check.label} cannot ({check.import_error}); "
                f"install it in the Python that runs Ray there (`pip install tfcli=={tfcli.__version__}`), "
                f"or set {SHIP_ENV}=1 to ship this copy to the workers in a Ray runtime environment"
            )
    for check in checks:
        if check.tfcli_version != tfcli.__version__:
            raise ClusterError(
                f"every Ray node must run the driver's tfcli {tfcli.__version__}, but {check.label} has "
                f"{check.tfcli_version}; install the same version on every node, or set {SHIP_ENV}=1"
            )
    for check in checks:
        if check.has_torch is False:
            raise ClusterError(
                f"every Ray node must have tfcli's dependencies, but {check.label} has no torch; "
                "install tfcli with its dependencies in the Python that runs Ray there"
            )
    for check in checks:
        if check.sees_storage is False:
            raise ClusterError(
                f"--storage must be shared by all {len(checks)} nodes of the cluster (Ray needs shared "
                f"storage since 2.7), but {storage} is not visible from {check.label}; pass --storage a folder "
                "on NFS or another shared file system, or an s3:// or gs:// URI"
            )
        if check.storage_error:
            raise ClusterError(
                f"--storage must be writable from every node, but {check.label} cannot write {storage} "
                f"({check.storage_error})"
            )


def preflight(storage: str | None, *, timeout_s: float = PREFLIGHT_TIMEOUT_S) -> list[NodeCheck]:
    """Check the connected Ray cluster before a study starts; raise ClusterError in one line.

    Every alive node must import the driver's tfcli version and have torch; on a cluster of
    more than one node, the storage folder (``storage``: Ray's storage path, a local path
    or a URI) must be visible and writable from every node. URIs (``s3://``, ``gs://``, ...)
    count as shared. Call it right after joining the cluster, before building the Tuner.
    """
    checks = run_node_checks(storage, timeout_s=timeout_s)
    verdict(checks, storage)
    return checks


AUTH_FAILURE_MARKERS = ("InvalidAuthToken", "Unauthenticated", "AuthenticationError")


def auth_hint(address: str, output: str | bytes | None) -> str | None:
    """The one-line error for a connection that failed on Ray's token authentication, or None.

    Ray 2.60 turns token authentication on for a head started where a token exists, and a
    driver given an explicit address does not send one unless ``RAY_AUTH_MODE=token``; it
    then retries for about 20 s, logging ``InvalidAuthToken``. ``output``: what the failed
    connection attempt wrote (stderr), also when it was cut off by a timeout (then
    ``TimeoutExpired.stderr`` is bytes even with ``text=True``).
    """
    if isinstance(output, bytes):
        output = output.decode(errors="replace")
    if not output or not any(marker in output for marker in AUTH_FAILURE_MARKERS):
        return None
    return (
        f"the Ray cluster at {address} uses token authentication, and this client sent no valid token; "
        "set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH) to the cluster's token"
    )
