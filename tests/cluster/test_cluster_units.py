"""The cluster helpers without a cluster: addresses, job packages, entrypoints, check verdicts."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from tests.cluster.conftest import tiny_study
from tests.cli.test_cli import HEAVY, _imported_after
from tfcli import __version__
from tfcli.cluster import checks, jobs
from tfcli.cluster.checks import NodeCheck, verdict
from tfcli.errors import ClusterError

pytestmark = pytest.mark.timeout(120)

COMMANDS = ("submit", "status", "logs", "stop", "slurm", "wait", "check")


def test_cluster_help_lists_every_command_and_stays_light(cli):
    result = cli("cluster", "--help")
    assert result.exit_code == 0, result.stderr
    for command in COMMANDS:
        assert f"  {command} " in result.stdout
        sub = cli("cluster", command, "--help")
        assert sub.exit_code == 0 and "Usage: tfcli cluster " + command in " ".join(sub.stdout.split())
    loaded = _imported_after(["cluster", "submit", "--help"])
    assert not loaded & set(HEAVY), loaded & set(HEAVY)
    assert "  cluster " in cli("--help").stdout


def test_job_server_address(monkeypatch):
    for name in jobs.ADDRESS_ENVS:
        monkeypatch.delenv(name, raising=False)
    assert jobs.job_server_url("http://head:8265/") == ("http://head:8265", "--address")
    assert jobs.job_server_url("head:8265") == ("http://head:8265", "--address")
    with pytest.raises(ClusterError, match="none was given"):
        jobs.job_server_url(None)
    with pytest.raises(ClusterError, match="Ray Client address ray://head:10001"):
        jobs.job_server_url("ray://head:10001")
    monkeypatch.setenv("RAY_ADDRESS", "head:6379")
    assert jobs.job_server_url(None) == ("http://head:6379", "$RAY_ADDRESS")
    monkeypatch.setenv("RAY_API_SERVER_ADDRESS", "http://api:8265")
    assert jobs.job_server_url(None) == ("http://api:8265", "$RAY_API_SERVER_ADDRESS")
    assert jobs.job_server_url("http://explicit:8265")[0] == "http://explicit:8265", "--address wins over the environment"


def write_study(folder: Path, data: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "study.yaml"
    path.write_text(tiny_study("pkg").replace("data: 'builtin:dates'", f"data: {data}"))
    return path


def test_package_carries_the_study_file_and_its_relative_data_files(tmp_path):
    from tfcli.spec.load import load_spec

    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (project / "data" / "train.tsv").write_text("a b\tc d\n" * 20)
    outside = tmp_path / "valid.tsv"
    outside.write_text("a b\tc d\n" * 5)
    study = write_study(project, f"{{train: data/train.tsv, valid: {outside}}}")
    into = tmp_path / "job"
    into.mkdir()
    package = jobs.package_study(study, load_spec(study), into)
    assert package.study_file == "study.yaml" and (into / "study.yaml").read_text() == study.read_text()
    assert package.data_files == ["data/train.tsv"] and (into / "data" / "train.tsv").is_file()
    assert package.cluster_paths == [str(outside)]


def test_package_refuses_data_outside_the_study_folder(tmp_path):
    from tfcli.spec.load import load_spec

    (tmp_path / "train.tsv").write_text("a b\tc d\n" * 20)
    study = write_study(tmp_path / "project", "{train: ../train.tsv}")
    with pytest.raises(ClusterError, match=r"task.data.train is '../train.tsv', outside"):
        jobs.package_study(study, load_spec(study), tmp_path)


def test_entrypoint_is_quoted_and_joins_the_cluster_the_job_runs_on():
    command = jobs.study_entrypoint(
        "my study.yaml", tracking_uri="http://mlflow:5000", storage="s3://b/x", num_samples=3, max_concurrent=None, ship=False,
    )
    assert shlex.split(command) == [
        "tfcli", "study", "start", "my study.yaml", "--address", "auto", "--tracking-uri", "http://mlflow:5000",
        "--storage", "s3://b/x", "--num-samples", "3",
    ]
    shipped = jobs.study_entrypoint("s.yaml", tracking_uri="sqlite:////x.db", storage=None, num_samples=None, max_concurrent=2, ship=True)
    assert shipped.startswith("python -m tfcli study start s.yaml") and shipped.endswith("--max-concurrent 2")


@pytest.mark.parametrize(
    "option, value, fragment",
    [
        ("--tracking-uri", "sqlite:///mlruns/mlflow.db", "relative to the job's temporary"),
        ("--storage", "ray-results", "must be absolute"),
    ],
)
def test_job_paths_must_not_be_relative(option, value, fragment):
    with pytest.raises(ClusterError, match=fragment):
        jobs._check_cluster_uri(option, value, "x")
    jobs._check_cluster_uri(option, "sqlite:////abs/mlflow.db" if option == "--tracking-uri" else "/abs/ray", "x")


def node(**found) -> NodeCheck:
    return NodeCheck(**{"node_id": "a" * 40, "ip": "10.0.0.2", "host": "n2", "tfcli_version": __version__, "has_torch": True, **found})


@pytest.mark.parametrize(
    "found, message",
    [
        ({"tfcli_version": None, "import_error": "ModuleNotFoundError: No module named 'tfcli'"},
         "every Ray node must be able to import tfcli, but node aaaaaaaa (10.0.0.2, host n2) cannot (ModuleNotFoundError"),
        ({"tfcli_version": "0.0.1"}, f"must run the driver's tfcli {__version__}, but node aaaaaaaa (10.0.0.2, host n2) has 0.0.1"),
        ({"has_torch": False}, "has no torch"),
        ({"sees_storage": False}, "--storage must be shared by all 2 nodes of the cluster (Ray needs shared storage since 2.7), but /data/ray is not visible"),
        ({"sees_storage": True, "storage_error": "Read-only file system"}, "cannot write /data/ray (Read-only file system)"),
    ],
)
def test_verdict_names_the_node_and_the_fix(found, message):
    with pytest.raises(ClusterError) as err:
        verdict([node(sees_storage=True if "sees_storage" not in found else None), node(**found)], "/data/ray")
    assert message in str(err.value) and "\n" not in str(err.value)


def test_verdict_passes_healthy_nodes():
    verdict([node(), node(sees_storage=True)], "/data/ray")


def test_storage_kinds_and_runtime_env(monkeypatch):
    assert checks.is_remote_storage("s3://bucket/ray") and checks.is_remote_storage("gs://b")
    assert not checks.is_remote_storage("/nfs/ray") and not checks.is_remote_storage("file:///nfs/ray")
    assert checks.local_storage_path("file:///nfs/ray") == Path("/nfs/ray")
    env = checks.runtime_env_for_tfcli()
    (module,) = env["py_modules"]
    assert (Path(module) / "__init__.py").is_file() and Path(module).name == "tfcli"
    monkeypatch.delenv(checks.SHIP_ENV, raising=False)
    assert checks.requested_runtime_env() is None
    monkeypatch.setenv(checks.SHIP_ENV, "1")
    assert checks.requested_runtime_env() == env


def test_auth_hint():
    assert checks.auth_hint("h:6379", b"... RPC error: InvalidAuthToken: missing").startswith("the Ray cluster at h:6379 uses token")
    assert checks.auth_hint("h:6379", "Connection refused") is None
    assert checks.auth_hint("h:6379", None) is None
