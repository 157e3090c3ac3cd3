"""A real PostgreSQL for the team tests: Debian's ``postgresql`` package, run by the tests.

``initdb`` makes a cluster in a temporary folder and ``pg_ctl`` starts and stops it, both as
the unprivileged ``postgres`` user when the tests run as root (PostgreSQL refuses to run as
root), else as the current user. The server listens on 127.0.0.1 on a free port with its
unix socket in the same folder; the ``mlflow`` role has a password (``scram-sha-256``, as a
team's server would) and owns the ``mlflow`` database. These are the commands that
docs/cluster.md's team set-up shows.

``pg_ctl stop`` ends it; where that fails, the postmaster is killed by the process id it
wrote to ``postmaster.pid``.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from tests.cluster.services import free_port, port_open, scratch_dir, wait_until

USER, PASSWORD, DATABASE = "mlflow", "mlflow-test-password", "mlflow"
START_TIMEOUT_S = 60


def pg_bin(tool: str) -> str | None:
    """A PostgreSQL program: on PATH, else in Debian's /usr/lib/postgresql/<version>/bin."""
    found = shutil.which(tool)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"), key=lambda p: int(Path(p).parts[4]))
    return candidates[-1] if candidates else None


def available() -> str | None:
    """Why PostgreSQL cannot run here, or None when it can."""
    missing = [tool for tool in ("initdb", "pg_ctl", "createdb") if pg_bin(tool) is None]
    if missing:
        return f"PostgreSQL's {', '.join(missing)} not found (Debian: apt-get install postgresql)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root, and there is no unprivileged 'postgres' user to run PostgreSQL"
        if shutil.which("runuser") is None:
            return "running as root without runuser to drop to the 'postgres' user"
    return None


@dataclass
class Postgres:
    """One PostgreSQL cluster in ``root``: its data in ``root/data``, its socket in ``root``."""

    root: Path
    port: int

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    @property
    def uri(self) -> str:
        """The backend store URI for ``mlflow server`` (psycopg 3, the ``team`` extra's driver)."""
        return f"postgresql+psycopg://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{DATABASE}"

    def _run(self, tool: str, *args: str, env: dict[str, str] | None = None, timeout_s: float = 120) -> None:
        wrap = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        done = subprocess.run(
            [*wrap, pg_bin(tool), *args], cwd=self.root, env={**os.environ, **(env or {})},
            capture_output=True, text=True, timeout=timeout_s,
        )
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise AssertionError(f"{tool} {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}\n{log}")

    def init(self) -> None:
        """``initdb`` with the ``mlflow`` superuser, then ``createdb mlflow``."""
        pwfile = self.root / "pwfile"
        pwfile.write_text(PASSWORD + "\n")
        _own(pwfile)
        self._run(
            "initdb", "-D", str(self.data), "-U", USER, f"--pwfile={pwfile}", "--auth=scram-sha-256",
            "--encoding=UTF8", "--locale=C",
        )
        pwfile.unlink()
        self.start()
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, DATABASE, env={"PGPASSWORD": PASSWORD})

    def start(self) -> None:
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-o", f"-h 127.0.0.1 -p {self.port} -k {self.root}", "start",
        )
        wait_until(lambda: port_open(self.port), START_TIMEOUT_S, "PostgreSQL's port")

    def pid(self) -> int | None:
        """The postmaster's process id (the first line of ``postmaster.pid``), while it runs."""
        try:
            return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        """``pg_ctl stop -m fast``; SIGKILL the postmaster by its pid if that does not end it."""
        pid = self.pid()
        if pid is None:
            return
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", timeout_s=90)
        except (AssertionError, subprocess.TimeoutExpired):
            pass
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.2)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def _own(path: Path) -> None:
    """Hand ``path`` to the ``postgres`` user when the tests run as root."""
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(path, entry.pw_uid, entry.pw_gid)


@contextmanager
def postgres(prefix: str = "tfp") -> Iterator[Postgres]:
    """A fresh PostgreSQL on 127.0.0.1 with an empty ``mlflow`` database, stopped at the end."""
    with scratch_dir(prefix) as root:
        _own(root)
        server = Postgres(root=root, port=free_port())
        try:
            server.init()
            yield server
        finally:
            server.stop()
