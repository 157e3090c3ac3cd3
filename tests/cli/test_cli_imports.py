"""The CLI's function-local imports: each defers a heavy library (torch, Ray, MLflow, pandas,
scikit-learn, plotly), directly or through a tfcli module that imports one at its top; every
other import sits at the top of its module, where it shows the import graph."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(120)

CLI = Path(__file__).resolve().parents[2] / "tfcli" / "cli"
HEAVY = ("torch", "ray", "mlflow", "pandas", "sklearn", "plotly")

#: (file, function, module imported inside it): why it is imported there.
DEFERRED = {
    ("cluster.py", "check", "ray"): "Ray: only `tfcli cluster check` joins a cluster",
    ("study.py", "_print_dry_run", "tfcli.study.space_dry_run"): "Ray Tune's searchers: only a dry run draws configurations",
}


def _local_imports() -> set[tuple[str, str, str]]:
    found = set()
    for path in sorted(CLI.glob("*.py")):
        for function in ast.walk(ast.parse(path.read_text())):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.Import):
                    found |= {(path.name, function.name, alias.name) for alias in node.names}
                elif isinstance(node, ast.ImportFrom):
                    found.add((path.name, function.name, node.module or ""))
    return found


def _pulls_in_heavy(module: str) -> bool:
    if module.split(".")[0] in HEAVY:
        return True
    code = f"import sys, {module}\nprint(any(h in sys.modules for h in {HEAVY!r}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    return out.stdout.strip() == "True"


def test_every_function_local_import_is_listed_with_its_reason():
    assert _local_imports() == set(DEFERRED)


@pytest.mark.parametrize("where", sorted(DEFERRED))
def test_each_listed_import_defers_a_heavy_library(where):
    assert _pulls_in_heavy(where[2]), f"{where}: imports nothing heavy; import it at the top of {where[0]}"
