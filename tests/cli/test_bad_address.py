"""A Ray address tfcli cannot join is refused before the study's parent run is written, so a
typo in --address leaves no study behind and the name stays free."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[2]


def tfcli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "MLFLOW_TRACKING_URI")}
    return subprocess.run([sys.executable, "-m", "tfcli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=100)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("address, phrase", [
    ("ray://127.0.0.1:10001", "Ray Client addresses are not supported"),
    (None, "cannot reach a Ray cluster at 127.0.0.1:"),
])
def test_a_bad_address_leaves_no_study_behind(tmp_path, address, phrase):
    (tmp_path / "q.yaml").write_text((REPO / "studies" / "quickstart.yaml").read_text())
    address = address or f"127.0.0.1:{closed_port()}"
    refused = tfcli(tmp_path, "study", "start", "q.yaml", "--address", address)
    lines = [line for line in refused.stderr.splitlines() if line.strip() and not line.startswith("search.seed")]
    assert refused.returncode == 2 and len(lines) == 1 and phrase in lines[0], refused.stdout + refused.stderr
    listed = tfcli(tmp_path, "study", "list", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["studies"] == [], "the name stays free"
