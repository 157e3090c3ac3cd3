"""A study as a Ray job: submit it to a cluster's job server, follow, inspect and stop it.

The job runs ``tfcli study start FILE --address auto ...`` on the head node, in a working
directory that Ray uploads from here: the study file and the local data files it names.
Ray's own job SDK (``ray.job_submission.JobSubmissionClient``, from ``ray[default]``) does
the talking; the job server is the head's dashboard, ``http://HEAD:8265`` by default.

Note: the SDK lets ``$RAY_API_SERVER_ADDRESS`` / ``$RAY_ADDRESS`` override the address it is
given; here an explicit ``--address`` wins, and those variables are only the default.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import shlex
import shutil
import tempfile
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from tfcli.cluster.checks import runtime_env_for_tfcli
from tfcli.cluster.ray_internals import auth_headers
from tfcli.errors import ClusterError
from tfcli.spec.load import load_spec
from tfcli.spec.schema import DataFiles

ADDRESS_ENVS = ("RAY_API_SERVER_ADDRESS", "RAY_ADDRESS")
PROBE_TIMEOUT_S = 5.0
METADATA_STUDY = "tfcli.study"


def job_server_url(address: str | None) -> tuple[str, str]:
    """The job server's URL for ``--address`` (None: the environment), and where it came from."""
    source = "--address"
    if not address:
        for name in ADDRESS_ENVS:
            if os.environ.get(name, "").strip():
                address, source = os.environ[name].strip(), f"${name}"
                break
    if not address:
        raise ClusterError(
            "a Ray job server address is needed, but none was given; pass --address http://HEAD:8265 "
            "(the head's dashboard) or set RAY_API_SERVER_ADDRESS"
        )
    if address.startswith("ray://"):
        raise ClusterError(
            f"the address must be the Ray job server (the dashboard, http://HEAD:8265), but {source} is the "
            f"Ray Client address {address}"
        )
    if "://" not in address:
        address = f"http://{address}"
    if not address.startswith(("http://", "https://")):
        raise ClusterError(f"the address must be http://HEAD:8265 (the Ray job server), but {source} is {address}")
    return address.rstrip("/"), source


def probe_job_server(url: str, source: str = "--address", timeout_s: float = PROBE_TIMEOUT_S) -> str:
    """Check that a Ray job server answers at ``url``; return its Ray version.

    One clear line for each way it can fail: nothing listens, something that is not a Ray job
    server answers (a GCS port, a head started without the dashboard), or the server wants
    the cluster's token.
    """
    fix = "start the head with the dashboard (`ray start --head --dashboard-host 0.0.0.0`, needs ray[default]) and pass its address, port 8265"
    request = urllib.request.Request(f"{url}/api/version", headers=auth_headers())
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 - the user's cluster
            body = response.read(4096)
    except urllib.error.HTTPError as err:
        if err.code in (401, 403):
            raise ClusterError(
                f"the Ray job server at {url} must accept this client, but it answered HTTP {err.code}: the cluster "
                "uses token authentication; set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN (or ~/.ray/auth_token) to its token"
            ) from None
        raise ClusterError(
            f"{source} must name a Ray job server, but {url} answered HTTP {err.code} to /api/version; {fix}"
        ) from None
    except (http.client.HTTPException, ConnectionResetError) as err:
        raise ClusterError(
            f"{source} must name a Ray job server, but what answers at {url} does not speak HTTP "
            f"({type(err).__name__}; a GCS port such as 6379?); {fix}"
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        text = getattr(reason, "strerror", None) or str(reason)
        raise ClusterError(f"cannot reach a Ray job server at {url} ({source}): {text}; {fix}") from None
    try:
        version = json.loads(body)["ray_version"]
    except (ValueError, KeyError, TypeError):
        raise ClusterError(
            f"{source} must name a Ray job server, but {url}/api/version did not answer like one; {fix}"
        ) from None
    return str(version)


@contextmanager
def _explicit_address() -> Iterator[None]:
    """Hide the address variables while the SDK resolves its address: ours is explicit."""
    saved = {name: os.environ.pop(name) for name in ADDRESS_ENVS if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def client(address: str | None):
    """A ``JobSubmissionClient`` for the job server at ``address`` (checked first)."""
    url, source = job_server_url(address)
    probe_job_server(url, source)
    try:
        from ray.job_submission import JobSubmissionClient
    except ImportError:  # pragma: no cover - ray[default] is the cluster extra
        raise ClusterError("Ray's job SDK needs ray[default]: pip install 'tfcli[cluster]'") from None
    with _explicit_address():
        try:
            return JobSubmissionClient(url)
        except Exception as err:  # noqa: BLE001 - the SDK raises RuntimeError/ConnectionError
            raise ClusterError(f"cannot talk to the Ray job server at {url}: {_first_line(err)}") from None


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return (text.splitlines()[0] if text else type(err).__name__)[:300]


def _job_call(url: str, job_id: str, call, *args):
    try:
        return call(*args)
    except RuntimeError as err:
        text = str(err)
        if "404" in text or "does not exist" in text:
            raise ClusterError(f"there is no job {job_id!r} at {url}; give an id that `tfcli cluster submit` printed") from None
        raise ClusterError(f"the Ray job server at {url} failed: {_first_line(err)}") from None
    except (ConnectionError, OSError) as err:
        raise ClusterError(f"lost the Ray job server at {url}: {_first_line(err)}") from None


# --- the job's working directory -----------------------------------------------------------


@dataclass
class JobPackage:
    """The working directory uploaded with a job: the study file and its local data files."""

    root: Path
    study_file: str  # relative to root
    data_files: list[str] = field(default_factory=list)  # relative to root
    cluster_paths: list[str] = field(default_factory=list)  # absolute paths that must exist on the cluster


def package_study(file: Path, spec, into: Path) -> JobPackage:
    """Copy ``file`` and the data files it names (relative to its folder) into ``into``."""
    folder = file.resolve().parent
    shutil.copy2(file, into / file.name)
    package = JobPackage(root=into, study_file=file.name)
    data = spec.task.data
    if not isinstance(data, DataFiles):
        return package
    for split in ("train", "valid", "test"):
        value = getattr(data, split)
        if value is None:
            continue
        path = Path(value).expanduser()
        if path.is_absolute():
            package.cluster_paths.append(str(path))
            continue
        source = (folder / path).resolve()
        try:
            relative = source.relative_to(folder)
        except ValueError:
            raise ClusterError(
                f"a Ray job carries the data files in the study file's folder, but task.data.{split} is {value!r}, "
                f"outside {folder}; move it there, or give an absolute path that exists on the cluster"
            ) from None
        if not source.is_file():
            raise ClusterError(f"task.data.{split} must be a file to send with the job, but {source} is not")
        target = into / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
        package.data_files.append(str(relative))
    return package


def _check_cluster_uri(option: str, value: str, example: str) -> None:
    """A job runs in a temporary folder on the head: relative paths there are lost."""
    if "://" in value:
        if value.startswith("sqlite:///") and not value.startswith("sqlite:////"):
            raise ClusterError(
                f"{option} must be a URI the cluster can use, but {value} is relative to the job's temporary "
                f"working directory; give an absolute one such as {example}"
            )
        return
    if not Path(value).is_absolute():
        raise ClusterError(
            f"{option} must be absolute for a Ray job, but {value} would be relative to the job's temporary "
            f"working directory; give an absolute path on the cluster, or a URI such as {example}"
        )


def study_entrypoint(study_file: str, *, tracking_uri: str, storage: str | None, num_samples: int | None,
                     max_concurrent: int | None, ship: bool) -> str:
    command = ["python", "-m", "tfcli"] if ship else ["tfcli"]
    command += ["study", "start", study_file, "--address", "auto", "--tracking-uri", tracking_uri]
    if storage:
        command += ["--storage", storage]
    if num_samples:
        command += ["--num-samples", str(num_samples)]
    if max_concurrent:
        command += ["--max-concurrent", str(max_concurrent)]
    return shlex.join(command)


@dataclass(frozen=True)
class SubmittedJob:
    job_id: str
    url: str
    study: str
    entrypoint: str
    package: JobPackage


def submit_study(
    file: Path,
    *,
    address: str | None,
    tracking_uri: str | None,
    storage: str | None = None,
    num_samples: int | None = None,
    max_concurrent: int | None = None,
    ship: bool = False,
    job_id: str | None = None,
) -> SubmittedJob:
    """Submit the study in ``file`` as a Ray job; return its id at once (it runs on its own)."""
    spec = load_spec(file)
    tracking_uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI", "").strip() or None
    if not tracking_uri:
        raise ClusterError(
            "a Ray job needs a tracking store the cluster reaches: pass --tracking-uri http://HOST:5000 (an MLflow "
            "server) or sqlite:////shared/path/mlflow.db; the default ./mlruns would stay in the job's temporary folder"
        )
    _check_cluster_uri("--tracking-uri", tracking_uri, "http://HOST:5000")
    if storage:
        _check_cluster_uri("--storage", storage, "s3://bucket/tfcli")
    jobs = client(address)
    url, _ = job_server_url(address)
    job_id = job_id or f"tfcli-{_slug(spec.name)}-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="tfcli-job-") as tmp:
        package = package_study(Path(file), spec, Path(tmp))
        entrypoint = study_entrypoint(
            package.study_file, tracking_uri=tracking_uri, storage=storage, num_samples=num_samples,
            max_concurrent=max_concurrent, ship=ship,
        )
        runtime_env: dict[str, Any] = {"working_dir": tmp}
        if ship:
            shipped = runtime_env_for_tfcli()
            runtime_env["py_modules"] = shipped["py_modules"]
            runtime_env["excludes"] = shipped["excludes"]
        with _explicit_address():
            submitted = _job_call(
                url, job_id, lambda: jobs.submit_job(
                    entrypoint=entrypoint, runtime_env=runtime_env, submission_id=job_id,
                    metadata={METADATA_STUDY: spec.name},
                )
            )
    return SubmittedJob(job_id=submitted, url=url, study=spec.name, entrypoint=entrypoint, package=package)


def _slug(name: str) -> str:
    keep = "".join(c if c.isalnum() or c in "-_" else "-" for c in name.lower())
    return keep.strip("-")[:40] or "study"


# --- following a job ----------------------------------------------------------------------


@dataclass(frozen=True)
class JobState:
    job_id: str
    status: str
    message: str | None
    entrypoint: str
    start_time: int | None  # ms since the epoch
    end_time: int | None
    metadata: dict[str, str]
    url: str

    @property
    def terminal(self) -> bool:
        return self.status in ("SUCCEEDED", "FAILED", "STOPPED")

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id, "status": self.status, "message": self.message, "entrypoint": self.entrypoint,
            "start_time": self.start_time, "end_time": self.end_time, "metadata": self.metadata, "address": self.url,
        }


def job_state(address: str | None, job_id: str) -> JobState:
    jobs = client(address)
    url, _ = job_server_url(address)
    info = _job_call(url, job_id, jobs.get_job_info, job_id)
    return JobState(
        job_id=job_id, status=str(info.status), message=info.message, entrypoint=info.entrypoint,
        start_time=info.start_time, end_time=info.end_time, metadata=dict(info.metadata or {}), url=url,
    )


def job_logs(address: str | None, job_id: str) -> str:
    jobs = client(address)
    url, _ = job_server_url(address)
    return _job_call(url, job_id, jobs.get_job_logs, job_id)


def follow_logs(address: str | None, job_id: str, write) -> JobState:
    """Write the job's logs as they come until it ends; return its final state."""
    jobs = client(address)
    url, _ = job_server_url(address)
    _job_call(url, job_id, jobs.get_job_info, job_id)  # an unknown id: one line, not a websocket error

    async def tail() -> None:
        async for chunk in jobs.tail_job_logs(job_id):
            write(chunk)

    try:
        asyncio.run(tail())
    except (RuntimeError, ConnectionError, OSError) as err:
        raise ClusterError(f"lost the logs of job {job_id} at {url}: {_first_line(err)}") from None
    return job_state(address, job_id)


def stop_job(address: str | None, job_id: str) -> bool:
    """Ask Ray to stop the job; False when it had already ended."""
    jobs = client(address)
    url, _ = job_server_url(address)
    return bool(_job_call(url, job_id, jobs.stop_job, job_id))
