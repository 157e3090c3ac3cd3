"""Real servers for the cluster tests: Ray heads and nodes, and an MLflow tracking server.

Every server runs in its own session (process group) and is stopped by that group's id, even
when a test fails; processes that left the group (Ray workers) are found by the test's own
temporary folder in their command line and stopped by pid. Addresses are on the loopback
interface and ports are free ones picked per test.

Ray 2.60 turns on token authentication for a head started where ``~/.ray/auth_token``
exists, and a node or driver given an explicit address only sends a token when
``RAY_AUTH_MODE=token``. The clusters here therefore run with a fresh token of their own,
passed to every process that talks to them through :func:`Cluster.env`.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

VENV_BIN = str(Path(sys.executable).parent)
RAY = str(Path(VENV_BIN) / "ray")
START_TIMEOUT_S = 90


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_env(**extra: str) -> dict[str, str]:
    """The environment of a server or a tfcli subprocess: this venv first on PATH, no stray cluster."""
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS", "MLFLOW_TRACKING_URI")}
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        RAY_USAGE_STATS_ENABLED="0",
        OMP_NUM_THREADS="1",
        COLUMNS="200",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class Service:
    """A server process in its own session, logging to a file."""

    def __init__(self, name: str, args: list[str], log: Path, env: dict[str, str], marker: str, wrap: list[str] | None = None):
        self.name, self.args, self.log, self.marker = name, args, log, marker
        self._log = open(log, "wb")
        self.proc = subprocess.Popen(
            [*(wrap or []), *args], env=env, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self, grace_s: float = 3.0) -> None:
        """SIGTERM the process group, then SIGKILL it and any process still naming our folder."""
        for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=wait_s)
                if sig == signal.SIGKILL or not _group_alive(self.proc.pid):
                    break
            except subprocess.TimeoutExpired:
                continue
        kill_by_marker(self.marker)
        self._log.close()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def kill_by_marker(marker: str) -> None:
    """SIGKILL each process whose command line contains ``marker`` (this test's own folder)."""
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline:
            try:
                os.kill(int(entry.name), signal.SIGKILL)
            except ProcessLookupError:
                pass


def process_tree(pid: int) -> list[int]:
    """``pid`` and every process below it (Ray's workers leave their node's process group,
    not its process tree)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def signal_processes(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def wait_until(predicate, timeout_s: float, what: str, service: Service | None = None, every_s: float = 0.5):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if service is not None and not service.alive():
            raise AssertionError(f"{service.name} exited while waiting for {what}:\n{service.output()}")
        time.sleep(every_s)
    detail = f":\n{service.output()}" if service is not None else ""
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}{detail}")


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def http_ok(url: str, token: str | None = None) -> bool:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=2) as response:  # noqa: S310 - ours
            return response.status == 200
    except Exception:
        return False


@contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    """A short folder under /tmp (Ray's socket paths must stay under ~107 characters)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@dataclass
class Cluster:
    """A Ray cluster on this machine: a head and zero or more nodes joined to it."""

    root: Path
    port: int
    token: str
    dashboard_port: int | None = None
    node_local: Path | None = None  # a folder that only the head's side sees as it is (see private_mount)
    services: list[Service] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def dashboard_url(self) -> str:
        assert self.dashboard_port is not None
        return f"http://127.0.0.1:{self.dashboard_port}"

    def env(self, **extra: str) -> dict[str, str]:
        return base_env(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=self.token, **extra)

    def start_head(self, *, dashboard: bool = False, num_cpus: int = 1) -> Service:
        args = [
            RAY, "start", "--head", "--block", "--port", str(self.port), "--node-ip-address", "127.0.0.1",
            "--num-cpus", str(num_cpus), "--temp-dir", str(self.root / "head"), "--disable-usage-stats",
            "--ray-client-server-port", str(free_port()), "--dashboard-agent-listen-port", str(free_port()),
            "--dashboard-host", "127.0.0.1", "--dashboard-port", str(self.dashboard_port or free_port()),
            "--include-dashboard", "true" if dashboard else "false",
        ]
        head = Service("ray head", args, self.root / "head.log", self.env(), marker=str(self.root))
        self.services.append(head)
        wait_until(lambda: port_open(self.port), START_TIMEOUT_S, "the Ray head's GCS port", head)
        if dashboard:
            wait_until(lambda: http_ok(f"{self.dashboard_url}/api/version", self.token), START_TIMEOUT_S, "the Ray job server", head)
        return head

    def add_node(self, name: str, *, num_cpus: int = 1, wrap: list[str] | None = None) -> Service:
        args = [
            RAY, "start", "--address", self.address, "--block", "--num-cpus", str(num_cpus),
            "--temp-dir", str(self.root / name), "--dashboard-agent-listen-port", str(free_port()),
            "--disable-usage-stats",
        ]
        node = Service(f"ray node {name}", args, self.root / f"{name}.log", self.env(), marker=str(self.root), wrap=wrap)
        self.services.append(node)
        return node

    def wait_for_nodes(self, count: int, timeout_s: float = START_TIMEOUT_S) -> None:
        """Wait until ``count`` nodes are alive, asking the cluster from a subprocess."""
        code = (
            "import ray, sys, time\n"
            "ray.init(address=sys.argv[1], log_to_driver=False, logging_level='ERROR')\n"
            "deadline = time.monotonic() + float(sys.argv[3])\n"
            "while time.monotonic() < deadline:\n"
            "    if sum(n['Alive'] for n in ray.nodes()) >= int(sys.argv[2]): sys.exit(0)\n"
            "    time.sleep(0.5)\n"
            "sys.exit(3)\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", code, self.address, str(count), str(timeout_s)],
            env=self.env(), capture_output=True, text=True, timeout=timeout_s + 60,
        )
        if done.returncode != 0:
            logs = "\n".join(f"--- {s.name}\n{s.output()}" for s in self.services)
            raise AssertionError(f"{count} Ray nodes did not come up: {done.stderr[-2000:]}\n{logs}")

    def stop(self) -> None:
        for service in reversed(self.services):
            service.stop()


@contextmanager
def ray_cluster(prefix: str = "tfr") -> Iterator[Cluster]:
    with scratch_dir(prefix) as root:
        cluster = Cluster(root=root, port=free_port(), token=secrets.token_hex(32))
        try:
            yield cluster
        finally:
            cluster.stop()


def private_mount(folder: Path) -> list[str] | None:
    """A command prefix that runs a process in its own mount namespace with an empty tmpfs
    over ``folder``: that process (a Ray node) then has ``folder`` on node-local storage,
    like a second machine's local disk, while the rest of the file system is shared.
    None where this machine does not allow it (unshare needs CAP_SYS_ADMIN)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    probe = subprocess.run(
        [unshare, "--mount", "--propagation", "private", "sh", "-c", f"mount -t tmpfs tfcli-local '{folder}'"],
        capture_output=True, text=True,
    )
    if probe.returncode != 0:
        return None
    return [unshare, "--mount", "--propagation", "private", "sh", "-c", f"mount -t tmpfs tfcli-local '{folder}' && exec \"$@\"", "sh"]


def run_tfcli(args: list[str], *, env: dict[str, str], cwd: Path, timeout_s: float = 300) -> subprocess.CompletedProcess:
    """``python -m tfcli ARGS`` in its own process group, killed as a group if it overruns."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tfcli", *map(str, args)], cwd=cwd, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError(f"tfcli {' '.join(map(str, args))} ran over {timeout_s:.0f}s:\n{out[-3000:]}\n{err[-3000:]}")
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # anything it left behind in its group
        except ProcessLookupError:
            pass
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def one_error_line(done: subprocess.CompletedProcess) -> str:
    """The one ``error: ...`` line of a user error (exit 2), checked."""
    assert done.returncode == 2, f"exit {done.returncode}\nstdout: {done.stdout[-3000:]}\nstderr: {done.stderr[-3000:]}"
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    return lines[0]


@contextmanager
def mlflow_server(
    root: Path, template_db: Path | None = None, backend_uri: str | None = None, start_timeout_s: float = START_TIMEOUT_S,
) -> Iterator[str]:
    """``mlflow server`` that proxies artifacts (``--serve-artifacts``) into ``root/server-artifacts``.

    The store is ``backend_uri`` (a PostgreSQL database, say), else a SQLite file in ``root``;
    ``template_db``: an empty, migrated SQLite store to start from (migrating takes the server ~20 s;
    an empty PostgreSQL database 30 to 80 s at a load of 9 to 20: give it ``start_timeout_s``).
    """
    if template_db is not None:
        shutil.copy(template_db, root / "server.db")
    port = free_port()
    args = [
        str(Path(VENV_BIN) / "mlflow"), "server", "--backend-store-uri", backend_uri or f"sqlite:///{root / 'server.db'}",
        "--serve-artifacts", "--artifacts-destination", str(root / "server-artifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]
    marker = str(root / "server-artifacts") if backend_uri else str(root / "server.db")
    server = Service("mlflow server", args, root / "mlflow-server.log", base_env(), marker=marker)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: http_ok(f"{url}/health"), start_timeout_s, "the MLflow server", server)
        yield url
    finally:
        server.stop()
