"""Studies on an existing Ray cluster: a real head and a second real node on this machine.

The second node runs in its own mount namespace with an empty tmpfs over one folder
(``node-local``), so that folder is node-local storage exactly as a second machine's local
disk would be: the driver sees its own copy, the node another. Everything else (the venv,
the shared storage folder) is seen by both, as NFS would be.
"""

from __future__ import annotations


import pytest

from tests.cluster.conftest import study_runs, tiny_study
from tests.cluster.services import base_env, free_port, one_error_line, private_mount, ray_cluster, run_tfcli

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def two_nodes():
    with ray_cluster() as cluster:
        node_local = cluster.root / "node-local"
        wrap = private_mount(node_local)
        cluster.start_head()
        cluster.add_node("n2", wrap=wrap)
        cluster.wait_for_nodes(2)
        cluster.node_local = node_local if wrap else None
        yield cluster


def test_study_runs_on_both_nodes(two_nodes, project):
    (project / "s.yaml").write_text(tiny_study("two-nodes"))
    storage = two_nodes.root / "shared" / "ray"
    done = run_tfcli(
        ["study", "start", "s.yaml", "--address", two_nodes.address, "--storage", storage],
        env=two_nodes.env(), cwd=project,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "2 finished" in done.stdout
    parents, children = study_runs(project, "two-nodes")
    assert len(parents) == 1 and len(children) == 2
    assert all(c.info.status == "FINISHED" for c in children)
    assert parents[0].data.tags.get("tfcli.ray_address") == two_nodes.address
    # One CPU per node and two trials at once: they overlap only if both nodes ran one.
    assert max(c.info.start_time for c in children) < min(c.info.end_time for c in children)
    assert len(list(storage.glob("two-nodes/*/result.json"))) == 2


def test_check_reports_every_node(two_nodes, tmp_path):
    done = run_tfcli(
        ["cluster", "check", "--address", two_nodes.address, "--storage", two_nodes.root / "shared" / "ray", "--format", "json"],
        env=two_nodes.env(), cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    import json

    from tfcli import __version__

    report = json.loads(done.stdout)
    assert len(report["nodes"]) == 2
    assert all(n["tfcli_version"] == __version__ and n["sees_storage"] is True for n in report["nodes"])


def test_node_local_storage_is_refused(two_nodes, tmp_path):
    if two_nodes.node_local is None:
        pytest.skip("needs unshare and mount (CAP_SYS_ADMIN) to give the second node a node-local folder")
    storage = two_nodes.node_local / "ray"
    done = run_tfcli(["cluster", "check", "--address", two_nodes.address, "--storage", storage], env=two_nodes.env(), cwd=tmp_path)
    line = one_error_line(done)
    assert "--storage must be shared by all 2 nodes" in line and str(storage) in line and "s3://" in line


def test_study_start_refuses_node_local_storage_before_any_trial(two_nodes, project):
    if two_nodes.node_local is None:
        pytest.skip("needs unshare and mount (CAP_SYS_ADMIN) to give the second node a node-local folder")
    (project / "s.yaml").write_text(tiny_study("local-storage"))
    storage = two_nodes.node_local / "ray"
    done = run_tfcli(
        ["study", "start", "s.yaml", "--address", two_nodes.address, "--storage", storage], env=two_nodes.env(), cwd=project,
    )
    line = one_error_line(done)
    assert "--storage must be shared" in line
    try:
        _, children = study_runs(project, "local-storage")
    except AttributeError:  # no experiment at all
        children = []
    assert children == []


def test_job_commands_refuse_a_port_without_a_job_server(two_nodes, tmp_path):
    study = tmp_path / "s.yaml"
    study.write_text(tiny_study("no-job-server"))
    sqlite = f"sqlite:///{tmp_path}/mlflow.db"
    for address in (f"http://127.0.0.1:{two_nodes.port}", f"127.0.0.1:{free_port()}"):
        done = run_tfcli(["cluster", "submit", study, "--address", address, "--tracking-uri", sqlite], env=two_nodes.env(), cwd=tmp_path)
        line = one_error_line(done)
        assert "Ray job server" in line and "8265" in line


def test_wait_and_check_give_one_line_for_an_unreachable_cluster(tmp_path):
    address = f"127.0.0.1:{free_port()}"
    done = run_tfcli(["cluster", "wait", "--address", address, "--nodes", "1", "--timeout", "2"], env=base_env(), cwd=tmp_path)
    assert address in one_error_line(done)
    done = run_tfcli(["cluster", "check", "--address", address], env=base_env(), cwd=tmp_path)
    assert address in one_error_line(done)


def test_a_node_without_tfcli_is_named_and_shipping_fixes_it(two_nodes, tmp_path):
    """A third node whose Python cannot import tfcli (the package folder is hidden from it)."""
    from tfcli.cluster.checks import package_dir

    wrap = private_mount(package_dir())
    if wrap is None:
        pytest.skip("needs unshare and mount (CAP_SYS_ADMIN) to hide tfcli from a node")
    node = two_nodes.add_node("n3", wrap=wrap)
    try:
        two_nodes.wait_for_nodes(3)
        shared = two_nodes.root / "shared" / "ray"
        done = run_tfcli(["cluster", "check", "--address", two_nodes.address, "--storage", shared], env=two_nodes.env(), cwd=tmp_path)
        line = one_error_line(done)
        assert "every Ray node must be able to import tfcli" in line and "TFCLI_SHIP_CODE=1" in line
        shipped = run_tfcli(
            ["cluster", "check", "--address", two_nodes.address, "--storage", shared],
            env=two_nodes.env(TFCLI_SHIP_CODE="1"), cwd=tmp_path,
        )
        assert shipped.returncode == 0, shipped.stdout[-3000:] + shipped.stderr[-3000:]
    finally:
        node.stop()
        two_nodes.services.remove(node)
