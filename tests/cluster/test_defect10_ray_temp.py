"""Issue 16, item 10: an embedded Ray listens on loopback only and leaves no session folder.

One embedded Ray is started by :func:`tfcli.cluster.connect.connect` in a fresh process
(Ray is process-wide), with its temp root in a folder of the test's own (``RAY_TMPDIR``), so
that other Ray sessions on this machine are neither seen nor touched. While it runs, the
process lists the TCP sockets that it and its descendants (GCS, raylet, agents, workers)
listen on, from ``/proc``; then :func:`~tfcli.cluster.connect.disconnect` shuts it down.
"""

from __future__ import annotations

import importlib
import ipaddress
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tfcli.cluster import connect as cn
from tfcli.cluster import ray_internals

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

_SCRIPT = r'''
import json, os, sys
from pathlib import Path

def descendants(root):
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rpartition(")")[2].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo.extend(children.get(pid, []))
    return found

def socket_owners(pids):
    owners = {}
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                owners[link[8:-1]] = pid
    return owners

def address(hex_ip):
    raw = bytes.fromhex(hex_ip)
    # /proc/net/tcp{,6} print each 32-bit word of the address in host (little-endian) order
    return ".".join(str(b) for b in raw[::-1]) if len(raw) == 4 else b"".join(
        raw[i:i + 4][::-1] for i in range(0, 16, 4)).hex(":", 2)

def listening(root):
    owners = socket_owners(descendants(root))
    out = []
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            parts = line.split()
            local, state, inode = parts[1], parts[3], parts[9]
            if state == "0A" and inode in owners:  # 0A: LISTEN
                ip, port = local.split(":")
                name = Path(f"/proc/{owners[inode]}/comm").read_text().strip()
                out.append([address(ip), int(port, 16), name])
    return out

from tfcli.cluster import connect as cn, ray_internals
import importlib
module_name, name = ray_internals.RAY_LOOPBACK_SWITCH
started = cn.connect()
session = cn._embedded_session["dir"]
report = {
    "started": started,
    "session": str(session),
    "session_existed": session is not None and session.is_dir(),
    "switch_after_start": getattr(importlib.import_module(module_name), name, None),
    "listening": listening(os.getpid()),
}
cn.disconnect()
report["session_after"] = session is not None and os.path.lexists(session)
latest = Path(os.environ["RAY_TMPDIR"]) / "ray" / "session_latest"
report["latest_after"] = os.path.lexists(latest)
print("REPORT " + json.dumps(report))
'''


@pytest.fixture(scope="module")
def embedded():
    # A short root: Ray's socket paths under it must stay within the 107 bytes of AF_UNIX.
    root = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))
    decoy = root / "ray" / "session_2000-01-01_00-00-00_000000_1"  # another process's session
    (decoy / "logs").mkdir(parents=True)
    env = {**os.environ, "RAY_TMPDIR": str(root)}
    env.pop("RAY_ADDRESS", None)
    try:
        done = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=240, env=env)
        lines = [line for line in done.stdout.splitlines() if line.startswith("REPORT ")]
        assert done.returncode == 0 and lines, (done.stdout[-2000:], done.stderr[-3000:])
        yield json.loads(lines[-1][len("REPORT "):]), root, decoy
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _loopback(host: str) -> bool:
    ip = ipaddress.ip_address(host)
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or bool(mapped and mapped.is_loopback)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_embedded_ray_listens_on_loopback_only(embedded):
    report, _, _ = embedded
    assert report["started"] is True
    names = {name for _, _, name in report["listening"]}
    assert "gcs_server" in names and "raylet" in names, report["listening"]  # the listing sees Ray
    exposed = [entry for entry in report["listening"] if not _loopback(entry[0])]
    assert not exposed, f"listening beyond loopback: {exposed}"
    assert report["switch_after_start"] is True  # put back once Ray started (Linux's value)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_disconnect_removes_only_the_session_folder_it_created(embedded):
    report, root, decoy = embedded
    session = Path(report["session"])
    assert report["session_existed"] and session.parent == root / "ray"
    assert report["session_after"] is False  # removed by disconnect()
    assert report["latest_after"] is False  # session_latest pointed at it: removed too
    assert decoy.is_dir() and (decoy / "logs").is_dir()  # another session is never touched


@pytest.mark.timeout(60)
def test_the_loopback_switch_names_a_ray_constant():
    """Fails after a Ray upgrade that moves it: re-check :data:`RAY_LOOPBACK_SWITCH`."""
    module_name, name = ray_internals.RAY_LOOPBACK_SWITCH
    module = importlib.import_module(module_name)
    assert isinstance(getattr(module, name), bool)
    assert getattr(module, "ENABLE_RAY_CLUSTERS_ENV_VAR", None) == "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


@pytest.mark.timeout(30)
def test_remove_session_dir_removes_a_session_and_nothing_else(tmp_path):
    other = tmp_path / "not-a-session"
    other.mkdir()
    cn.remove_session_dir(other)
    assert other.is_dir()  # a folder Ray did not name is never removed
    session = tmp_path / "session_2026-01-01_00-00-00_000001_42"
    (session / "logs").mkdir(parents=True)
    keep = tmp_path / "session_2026-01-01_00-00-00_000002_43"
    keep.mkdir()
    (tmp_path / "session_latest").symlink_to(keep)
    cn.remove_session_dir(session)
    assert not session.exists() and keep.is_dir()
    assert os.readlink(tmp_path / "session_latest") == str(keep)  # it pointed elsewhere: kept
