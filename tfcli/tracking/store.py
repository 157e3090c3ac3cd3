"""The store: a tracking URI resolved to a :class:`Tracking` and checked up front; experiments."""

from __future__ import annotations

import logging
import os
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional
from urllib.parse import unquote, urlparse

from tfcli.errors import ClusterError, StudyError
from tfcli.tracking.locks import store_lock
from tfcli.tracking.mlflow_private import NOISY_LOGGERS
from tfcli.tracking.store_repair import arm_migration_crash, recover_interrupted_store
from tfcli.tracking.values import one_line

if TYPE_CHECKING:  # pragma: no cover
    from mlflow import MlflowClient

_HTTP_TIMEOUT_S = 3.0
#: MLflow's environment variable that stops it printing run and experiment URLs on stdout.
SUPPRESS_URL_PRINTING = "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"

#: The first bytes of every SQLite database file.
_SQLITE_HEADER = b"SQLite format 3\x00"
#: An empty database file younger than this may be one another process is creating right
#: now (SQLite creates the file empty and writes its header with the first table): wait up
#: to this long for it to fill before refusing it.
_NEW_FILE_GRACE_S = 5.0


@dataclass(frozen=True)
class Tracking:
    """Where runs go: the tracking URI and, for a local store, the artifact root (a path)."""

    uri: str
    artifact_root: Optional[str] = None

    @property
    def is_remote(self) -> bool:
        return self.uri.startswith(("http://", "https://"))

    @property
    def sqlite_path(self) -> Optional[Path]:
        return _sqlite_path(self.uri)

    def experiment_artifact_location(self, name: str) -> Optional[str]:
        """``<artifact_root>/<name>`` for a local store; None leaves it to the server."""
        if self.artifact_root is None:
            return None
        return str(Path(self.artifact_root) / _safe_name(name))

    def ensure_dirs(self) -> None:
        """Create the folders of a local store (the database's folder and the artifact root)."""
        db = self.sqlite_path
        if db is not None:
            db.parent.mkdir(parents=True, exist_ok=True)
        if self.artifact_root is not None:
            Path(self.artifact_root).mkdir(parents=True, exist_ok=True)

    def client(self) -> "MlflowClient":
        quiet_mlflow_logs()
        self.ensure_dirs()
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.uri)


def default_tracking_uri() -> str:
    """``$MLFLOW_TRACKING_URI`` if set, else the local store ``sqlite:///<cwd>/mlruns/mlflow.db``."""
    return resolve_tracking(None).uri


def resolve_tracking(uri: Optional[str] = None, *, cwd: Optional[str | Path] = None) -> Tracking:
    """The store for ``--tracking-uri`` (None: ``$MLFLOW_TRACKING_URI``, else ``./mlruns``).

    A SQLite store gets an absolute database path and keeps its artifacts beside it in
    ``artifacts/`` (``./mlruns/mlflow.db`` + ``./mlruns/artifacts``), so that the same store is
    found from any folder; a server (http/https) keeps artifacts where it is configured to.
    Nothing is created here: :func:`check_tracking` and :meth:`Tracking.client` do that.
    """
    base = Path(cwd) if cwd is not None else Path.cwd()
    if uri is None or not str(uri).strip():
        uri = os.environ.get("MLFLOW_TRACKING_URI", "").strip() or None
    if uri is None:
        root = (base / "mlruns").absolute()
        return Tracking(uri=f"sqlite:///{root / 'mlflow.db'}", artifact_root=str(root / "artifacts"))
    uri = str(uri).strip()
    db = _sqlite_path(uri, base=base)
    if db is not None:
        query = uri.partition("?")[2]
        absolute = f"sqlite:///{db}" + (f"?{query}" if query else "")
        return Tracking(uri=absolute, artifact_root=str(db.parent / "artifacts"))
    return Tracking(uri=uri.rstrip("/") if uri.startswith(("http://", "https://")) else uri)


def check_tracking(tracking: Tracking | str | None = None, *, timeout_s: float = _HTTP_TIMEOUT_S) -> Tracking:
    """Check up front that the store can be written (local) or reached (server); return it.

    Raises :class:`StudyError` for a local store that cannot be created or opened and
    :class:`ClusterError` for a server that does not answer within ``timeout_s``; each with
    one line that says what was expected and what was found.
    """
    if not isinstance(tracking, Tracking):
        tracking = resolve_tracking(tracking)
    uri = tracking.uri
    if tracking.is_remote:
        _probe_server(uri, timeout_s)
        return tracking
    scheme = uri.split(":", 1)[0].lower() if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", uri) else ""
    if scheme in ("", "file") and os.environ.get("MLFLOW_ALLOW_FILE_STORE", "").lower() not in ("1", "true"):
        raise StudyError(
            "the tracking URI must be a database such as sqlite:///mlruns/mlflow.db or an "
            f"http(s) server (MLflow 3 refuses a plain folder store), but got {uri!r}"
        )
    db = tracking.sqlite_path
    if db is not None:
        for folder in (db.parent, Path(tracking.artifact_root) if tracking.artifact_root else None):
            if folder is None:
                continue
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise StudyError(
                    f"the tracking store's folder must be writable, but {folder} cannot be created "
                    f"({err.strerror or err})"
                ) from None
            if not os.access(folder, os.W_OK | os.X_OK):
                raise StudyError(f"the tracking store's folder must be writable, but {folder} is not")
        if db.exists() and not os.access(db, os.R_OK | os.W_OK):
            raise StudyError(f"the tracking database must be writable, but {db} is not")
    # The first open of a new store runs MLflow's migrations: one process at a time.
    with store_lock(db, uri):
        if db is not None:
            check_database_file(db)
            recover_interrupted_store(db)
            arm_migration_crash()
        try:
            experiments = tracking.client().search_experiments(max_results=1000)
        except Exception as err:  # noqa: BLE001 - any failure to open the store is the user's to fix
            raise StudyError(f"the tracking store must open, but {uri} failed: {one_line(err)}") from None
    problem = moved_store_problem(tracking, [(e.name, e.artifact_location) for e in experiments])
    if problem:
        raise StudyError(problem)
    return tracking


def moved_store_problem(tracking: Tracking, experiments: list[tuple[str, str]]) -> Optional[str]:
    """Why a local store's studies would read and write artifacts somewhere else; None if they would not.

    MLflow records an experiment's artifact location as an absolute path, so a store that was
    moved or copied keeps pointing at the old folder: its reports would be written there and
    its exports read from there (or fail when that folder is gone). A study experiment
    (``<store>/artifacts/<name>``, as :meth:`Tracking.experiment_artifact_location` makes it)
    whose location is another store's artifacts folder is that case. MLflow has no public way
    to change an experiment's artifact location, so tfcli says so instead of repairing it.
    """
    if tracking.artifact_root is None:
        return None
    root = Path(tracking.artifact_root).resolve()
    for name, location in experiments:
        path = _local_path(location)
        if path is None or path.name != _safe_name(name) or path.parent.name != root.name:
            continue
        if path.resolve() == (root / _safe_name(name)).resolve():
            continue
        return (
            f"the store {tracking.sqlite_path} was moved or copied: study {name!r} keeps its artifacts at "
            f"{path}, outside this store's {root}, and MLflow cannot move them; move the store back to "
            f"{path.parent.parent}, or work from the store there (see 'Moved stores' in docs/reliability.md)"
        )
    return None


def _local_path(location: Optional[str]) -> Optional[Path]:
    """The folder of a local artifact location (a path or a file: URI); None for a remote one."""
    if not location:
        return None
    if location.startswith("file:"):
        return Path(unquote(urlparse(location).path))
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", location):
        return None
    return Path(location)


def check_database_file(db: Path) -> None:
    """Refuse a database file that exists but cannot be an MLflow store; a missing one is fine.

    SQLite opens an empty file as a new database, and MLflow then creates its tables in it:
    a store emptied by a full disk or a failed copy would come back as a new, empty store,
    every study in it gone without a word. So an empty file is refused (after a short wait
    when it was just created: see :data:`_NEW_FILE_GRACE_S`), and so is a file that is not
    SQLite, each with one line that says what to do.
    """
    head = _file_head(db)
    if head == b"":
        head = _wait_while_new_and_empty(db)
    if head is None or head.startswith(_SQLITE_HEADER):
        return
    found = "is empty (0 bytes: damaged, or never written)" if not head else "is not a SQLite database"
    raise StudyError(
        f"the tracking database must be an MLflow store, but {db} {found}; move it away "
        f"(`mv {db} {db}.damaged`) to start a new store there, or point --tracking-uri at the right file"
    )


def _file_head(db: Path) -> Optional[bytes]:
    """The first 16 bytes of ``db``, or None when there is no such file."""
    try:
        with db.open("rb") as handle:
            return handle.read(len(_SQLITE_HEADER))
    except FileNotFoundError:
        return None
    except OSError as err:
        raise StudyError(f"the tracking database must be readable, but {db} is not ({err.strerror or err})") from None


def _wait_while_new_and_empty(db: Path) -> Optional[bytes]:
    """The head of an empty ``db`` once it has content, or b"" when it stays empty.

    Only a file modified within :data:`_NEW_FILE_GRACE_S` is waited for; an older empty file
    is answered at once.
    """
    head: Optional[bytes] = b""
    while head == b"":
        try:
            age = time.time() - db.stat().st_mtime
        except FileNotFoundError:
            return None
        if age > _NEW_FILE_GRACE_S:
            break
        time.sleep(0.1)
        head = _file_head(db)
    return head


def _probe_server(uri: str, timeout_s: float) -> None:
    url = f"{uri.rstrip('/')}/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - user's server
            response.read(64)
    except urllib.error.HTTPError as err:
        if err.code in (401, 403):
            raise ClusterError(
                f"the MLflow tracking server must accept this client, but {uri} answered HTTP {err.code} "
                "(set MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD or MLFLOW_TRACKING_TOKEN)"
            ) from None
        if err.code >= 500:
            raise ClusterError(
                f"the MLflow tracking server must be healthy, but {uri} answered HTTP {err.code}"
            ) from None
        # 404 and friends: something answers (a proxy without /health); let MLflow try.
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise ClusterError(
            f"the MLflow tracking server must be reachable, but {uri} did not answer within "
            f"{timeout_s:g}s ({one_line(reason)})"
        ) from None


def ensure_experiment(tracking: Tracking, name: str, client: Optional["MlflowClient"] = None) -> str:
    """The id of the experiment ``name``, created (with a local artifact location) if needed."""
    from mlflow.exceptions import MlflowException

    client = client or tracking.client()
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        try:
            return client.create_experiment(name, artifact_location=tracking.experiment_artifact_location(name))
        except MlflowException:
            experiment = client.get_experiment_by_name(name)  # created meanwhile by another process
            if experiment is None:
                raise
    if experiment.lifecycle_stage != "active":
        raise StudyError(
            f"the MLflow experiment must be active, but {name!r} is deleted in {tracking.uri} "
            f"(restore it with `mlflow experiments restore --experiment-id {experiment.experiment_id}`, "
            "or choose another study name)"
        )
    return experiment.experiment_id


def quiet_mlflow_logs() -> None:
    """Silence the loggers that talk while a store is opened or migrated, warnings included.

    Their warnings (a retried connection, a migration detail) say nothing a user can act on;
    what goes wrong surfaces as an exception, which :func:`check_tracking` turns into one line.
    Also stops MLflow writing "View run ... / View experiment ..." to stdout each time a run
    ends on a server store (MLflow's public ``MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT``): those
    lines buried tfcli's own and broke ``--format json`` on stdout. A user's own setting wins.
    """
    os.environ.setdefault(SUPPRESS_URL_PRINTING, "true")
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


def _sqlite_path(uri: str, base: Optional[Path] = None) -> Optional[Path]:
    if not uri.startswith("sqlite:///"):
        return None
    raw = uri[len("sqlite:///"):].partition("?")[0]
    if not raw or raw == ":memory:":
        return None

    path = Path(unquote(raw)).expanduser()
    if not path.is_absolute():
        path = (base if base is not None else Path.cwd()) / path
    return Path(os.path.abspath(path))


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name).strip(".") or "experiment"
