"""Issue 17: what a user sees in a browser, in a real headless Chromium (tests/integration/browser.py).

One tiny real study (2 trials, 10 steps) for the module; the URL that `tfcli ui` prints for it
must open MLflow's table of runs with the trial runs in it (not the GenAI view, which lists no
runs), and its `tfcli report --format html` page, opened offline from file://, must draw every
plot with no JavaScript error. Skipped only where no Chromium is installed (CI installs it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from tests.integration.browser import Browser, chromium_binary
from tests.integration.conftest import study_runs, study_text

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(300),
    pytest.mark.skipif(chromium_binary() is None, reason="no Chromium binary (apt-get install chromium; .ci/run installs it)"),
]

NAME = "browser"


@pytest.fixture(scope="module")
def browser_study(tmp_path_factory, empty_store_db, ray_session):
    """The project folder of a finished tiny study NAME (the commands run from it)."""
    from typer.testing import CliRunner

    from tfcli.cli import app

    project = tmp_path_factory.mktemp("browser")
    (project / "mlruns").mkdir()
    shutil.copy(empty_store_db, project / "mlruns" / "mlflow.db")
    (project / "s.yaml").write_text(study_text(NAME, samples=2, steps=10, scheduler="{type: fifo}", test_top=1))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        cache = tmp_path_factory.getbasetemp() / "tfcli-cache"
        cache.mkdir(exist_ok=True)
        patch.setenv("TFCLI_CACHE", str(cache))
        result = CliRunner().invoke(app, ["study", "start", "s.yaml", "--no-baselines"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output + result.stderr
        yield project


@pytest.fixture
def browser():
    with Browser() as chromium:
        yield chromium


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class UiServer:
    """`tfcli ui` as a user runs it, in its own process group, its output collected as it comes."""

    def __init__(self, project, port: int):
        env = {**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}
        env.pop("MLFLOW_TRACKING_URI", None)
        self.base = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tfcli", "ui", "--port", str(port)], cwd=project, env=env, start_new_session=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def output(self) -> str:
        return "\n".join(self.lines)

    def printed_url(self, study: str, timeout_s: float = 60) -> str:
        """The URL `tfcli ui` printed for ``study``: the line `  NAME: URL`."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if line.startswith(f"  {study}: "):
                    return line.split(": ", 1)[1].strip()
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"tfcli ui printed no URL for {study!r}:\n{self.output()}")

    def wait_until_up(self, timeout_s: float = 90) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"tfcli ui exited with {self.process.returncode}:\n{self.output()}")
            try:
                with urllib.request.urlopen(f"{self.base}/health", timeout=2):  # noqa: S310 - our own server
                    return
            except OSError:
                time.sleep(0.5)
        raise AssertionError(f"tfcli ui did not answer at {self.base}/health within {timeout_s} s:\n{self.output()}")

    def stop(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)  # the group it leads: mlflow server and its workers
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


#: The names in the run-name cells of MLflow's table of runs, as drawn.
RUN_NAMES = """[...document.querySelectorAll('[role=gridcell][col-id="attributes.`Run Name`"]')]
  .map(cell => cell.querySelector('a[href*="/runs/"]')).filter(Boolean).map(link => link.textContent.trim())"""

#: Click the expander of the run named %s (MLflow draws child runs collapsed under their parent).
EXPAND = """(() => {
  const cell = [...document.querySelectorAll('[role=gridcell][col-id="attributes.`Run Name`"]')]
    .find(c => (c.querySelector('a[href*="/runs/"]') || {}).textContent === %s);
  const button = cell && cell.querySelector('button');
  if (button) button.click();
  return Boolean(button);
})()"""


def test_the_url_tfcli_ui_prints_shows_the_trial_runs(browser_study, browser):
    _, children = study_runs(browser_study, NAME)
    trial_names = sorted(c.info.run_name for c in children)
    assert len(trial_names) == 2 and all(trial_names), trial_names

    server = UiServer(browser_study, free_port())
    try:
        url = server.printed_url(NAME)
        server.wait_until_up()
        page = browser.open(url, timeout=60)
        study_row = page.wait_for(f"{RUN_NAMES}.includes({json.dumps(NAME)})", timeout=60)
        shown = page.evaluate(RUN_NAMES)
        if study_row and not set(trial_names) <= set(shown):
            assert page.evaluate(EXPAND % json.dumps(NAME)), "the study's run has no expander for its trial runs"
            page.wait_for(f"{json.dumps(trial_names)}.every(n => {RUN_NAMES}.includes(n))", timeout=30)
            shown = page.evaluate(RUN_NAMES)
        text = page.evaluate("document.body ? document.body.innerText : ''")
        where = page.evaluate("location.href")
    finally:
        server.stop()
    assert study_row and set(trial_names) <= set(shown), (
        f"{url} (printed by tfcli ui) shows no table of runs with the study's run {NAME!r} and its trial runs "
        f"{trial_names}: its run names are {shown}; the page (now at {where}) reads:\n{text[:2000]}"
    )


PLOTS = "[...document.querySelectorAll('.plotly-graph-div')]"
#: Per plot container: its id, whether plotly drew its SVG, its title as drawn, how many traces
#: its figure has and how many of them it drew (a scatter or bar trace's group, parallel coordinates).
DRAWN = f"""{PLOTS}.map(div => ({{id: div.id, drawn: Boolean(div._fullLayout && div.querySelector('.main-svg')),
  title: (div.querySelector('.gtitle') || {{}}).textContent || '',
  traces: (div.data || []).length, marks: div.querySelectorAll('.main-svg .trace, .main-svg .parcoords').length}}))"""


def test_the_html_report_draws_every_plot_offline_without_a_javascript_error(browser_study, browser, cli, tmp_path):
    page_path = tmp_path / "report.html"
    result = cli("report", NAME, "--format", "html", "--out", page_path)
    assert result.exit_code == 0, result.output + result.stderr
    source = page_path.read_text()
    containers = re.findall(r'<div id="([^"]+)" class="plotly-graph-div"', source)
    assert len(containers) >= 4, containers  # learning curves, parallel coordinates, importance, metric by trial

    page = browser.open(page_path.as_uri(), offline=True)  # a request off this file would be a logged error
    every_drawn = f"{DRAWN}.length === {len(containers)} && {DRAWN}.every(p => p.drawn)"
    page.wait_for(every_drawn, timeout=30)
    time.sleep(1.0)  # what rendering does after the first frame (WebGL parallel coordinates) reports its errors too
    plots = page.evaluate(DRAWN)
    errors = page.errors()
    assert [p["id"] for p in plots] == containers, plots
    assert all(p["drawn"] for p in plots), f"plots not drawn: {[p['id'] for p in plots if not p['drawn']]}; errors: {errors}"
    assert all(p["title"] for p in plots), plots
    assert all(p["marks"] > 0 for p in plots if p["traces"]), f"plots with data but no trace drawn: {plots}"
    assert errors == [], errors
