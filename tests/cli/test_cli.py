"""The CLI shell: help, version, module entry point, light imports, init and show."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tfcli import __version__

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "ray", "mlflow", "pandas")


def _imported_after(args: list[str]) -> set[str]:
    code = (
        "import sys\n"
        "from tfcli.cli import app\n"
        "try:\n"
        f"    app({args!r}, prog_name='tfcli')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('MODULES:' + ' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    line = [l for l in out.stdout.splitlines() if l.startswith("MODULES:")][-1]
    return set(line[len("MODULES:"):].split())


@pytest.mark.parametrize("args", [["--help"], ["study", "--help"], ["study", "validate", str(REPO / "studies" / "quickstart.yaml")]])
def test_light_commands_import_no_heavy_library(args):
    loaded = _imported_after(args)
    assert not loaded & set(HEAVY), loaded & set(HEAVY)
    assert "typer" in loaded


def test_version(cli):
    result = cli("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"tfcli {__version__}"


def test_python_dash_m():
    out = subprocess.run([sys.executable, "-m", "tfcli", "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == f"tfcli {__version__}"


def test_help_lists_command_groups(cli):
    result = cli("--help")
    assert result.exit_code == 0
    assert "study" in result.stdout
    assert "--install-completion" in result.stdout


@pytest.mark.parametrize("task", ["translation", "summarization", "classification", "qa"])
def test_init_writes_a_valid_template_and_refuses_to_overwrite(cli, tmp_path, task):
    result = cli("study", "init", f"my-{task}", "--task", task, "--dir", tmp_path)
    assert result.exit_code == 0, result.stderr
    path = tmp_path / f"my-{task}.yaml"
    assert path.is_file()
    text = path.read_text()
    assert "#" in text and f"name: my-{task}" in text
    assert cli("study", "validate", path).exit_code == 0

    path.write_text(text + "# edited by hand\n")
    again = cli("study", "init", f"my-{task}", "--task", task, "--dir", tmp_path)
    assert again.exit_code == 2
    assert "--force" in again.stderr and "Traceback" not in again.stderr
    assert path.read_text().endswith("# edited by hand\n")

    forced = cli("study", "init", f"my-{task}", "--task", task, "--dir", tmp_path, "--force")
    assert forced.exit_code == 0
    assert path.read_text() == text


def test_init_unknown_task(cli, tmp_path):
    result = cli("study", "init", "x", "--task", "parsing", "--dir", tmp_path)
    assert result.exit_code == 2
    assert "--task must be one of translation, summarization, classification, qa, but got 'parsing'" in result.stderr


def test_show_fills_defaults_and_sizes_the_space(cli, tmp_path):
    study = tmp_path / "grid.yaml"
    study.write_text(
        "name: g\ntask: {type: classification, data: 'builtin:sentiment'}\n"
        "search:\n  method: grid\n  num_samples: 2\n  parameters:\n"
        "    model.pooling: {values: [cls, mean]}\n    train.lr: {values: [0.001, 0.002, 0.003]}\n"
    )
    result = cli("study", "show", study, "--format", "json")
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["space"] == {"method": "grid", "size": 6, "trials": 12}
    assert payload["study"]["model"]["d_model"] == 128
    assert payload["study"]["objective"] == {"metric": "accuracy", "mode": "max"}

    table = cli("study", "show", study)
    assert table.exit_code == 0
    shown = yaml.safe_load(table.stdout.split("\n# search space")[0])
    assert shown["train"]["lr"] == 5.0e-4
    assert "grid of 6 configurations x 2 = 12 trials" in table.stdout


def test_show_continuous(cli):
    result = cli("study", "show", Path(__file__).resolve().parents[2] / "studies" / "quickstart.yaml", "--format", "json")
    assert json.loads(result.stdout)["space"]["size"] == "continuous"


def test_schema_is_json_schema(cli):
    result = cli("study", "schema")
    schema = json.loads(result.stdout)
    assert schema["title"] == "StudySpec"
    assert "search" in schema["properties"]


def test_user_error_has_no_traceback_but_debug_shows_one(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\n")
    plain = subprocess.run([sys.executable, "-m", "tfcli", "study", "show", str(bad)], capture_output=True, text=True, timeout=60)
    assert plain.returncode == 2
    assert plain.stderr.strip() == f"{bad}:1: task: required field is missing"
    debug = subprocess.run(
        [sys.executable, "-m", "tfcli", "--debug", "study", "show", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert debug.returncode != 0 and "Traceback" in debug.stderr
