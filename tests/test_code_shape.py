"""The code's shape (issue 24): few long functions, no long module, and function-local
imports only where they defer a heavy library.

A function-local import hides an edge of the import graph, so it must pay for itself: it is
kept only where it defers torch, Ray, MLflow, pandas, scikit-learn or plotly, directly or
through a module that imports one of them when it is imported. Whether it does is measured,
not read off a list: each distinct import statement runs in a fresh interpreter in which
those libraries cannot load, and the libraries it tried to load are its reason.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(180)

REPO = Path(__file__).resolve().parents[1]
ROOT = REPO / "tfcli"

#: A function is long when ``end_lineno - lineno >= LONG_FUNCTION`` (61 lines or more).
LONG_FUNCTION = 60
MAX_LONG_FUNCTIONS = 6
MAX_MODULE_LINES = 500
#: Modules past this many lines are listed (for information) by ``test_module_sizes_report``.
REPORT_MODULE_LINES = 400

HEAVY = ("torch", "ray", "mlflow", "pandas", "sklearn", "plotly")

#: Function-local imports kept for a reason other than deferring a heavy library, by
#: (module path, function name): each with its reason.
EXCEPTIONS = {
    ("tfcli/cluster/checks.py", "probe"): (
        "the pre-flight task, sent by value (cloudpickle) to every node and self-contained there: "
        "whether tfcli imports on the node is what it checks"
    ),
    ("tfcli/tracking/store_repair.py", "arm_migration_crash"): (
        "SQLAlchemy (about 250 ms), MLflow's database layer, only for the crash-window tests that arm "
        "this hook; at the top it would load with every import of tfcli.tracking (`tfcli study validate` too)"
    ),
    ("tfcli/report/importance.py", "distribution_for"): (
        "Optuna (about 280 ms): `tfcli study` loads the report's modules (study.manage -> report.build), "
        "so at the top it would load with `tfcli study validate`; only an importance analysis needs it"
    ),
    ("tfcli/report/importance.py", "_categorical"): "Optuna, as distribution_for",
    ("tfcli/report/importance.py", "fanova"): "Optuna, as distribution_for",
    ("tfcli/report/importance.py", "ped_anova"): "Optuna, as distribution_for",
    ("tfcli/metrics/seed_stats.py", "seed_summary"): (
        "scipy.stats (over a second): tfcli.metrics.api loads this module, and `tfcli study validate` "
        "loads the metrics (study.lifecycle -> baselines); only a confirmed block's t-interval needs it"
    ),
    ("tfcli/metrics/seed_stats.py", "welch_test"): "scipy.stats, as seed_summary",
    ("tfcli/train/task_runtime.py", "metric_settings"): (
        "the metrics (sacrebleu, which probes $TMPDIR with a file when imported): `tfcli predict` loads "
        "this module and must write nothing, in the export folder or out (tests/export/test_damaged_exports.py); "
        "only an evaluation scores"
    ),
    ("tfcli/train/task_runtime.py", "evaluate"): "the metrics, as metric_settings",
    ("tfcli/export/study_export.py", "export_config"): (
        "the metrics, as task_runtime's: tfcli.export is the package `tfcli predict` imports"
    ),
    ("tfcli/export/study_export.py", "_metrics_section"): "the metrics, as export_config",
}

#: Run by a fresh interpreter: the heavy libraries cannot load (an attempt is recorded and
#: fails as if the library were missing), then the statement runs; prints the attempts.
_PROBE = r"""
import importlib.abc, importlib.machinery, json, sys
HEAVY = set(sys.argv[1].split(","))
tried = set()

class Block(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        return importlib.machinery.ModuleSpec(name, self) if name.split(".")[0] in HEAVY else None

    def create_module(self, spec):
        tried.add(spec.name.split(".")[0])
        raise ImportError(f"{spec.name} is blocked by tests/test_code_shape.py")

    def exec_module(self, module):
        pass

sys.meta_path.insert(0, Block())
try:
    exec(sys.argv[2])
except Exception:
    pass
print(json.dumps(sorted(tried)))
"""


def _modules() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py"))


def _rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _functions(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def long_functions() -> list[tuple[str, str, int]]:
    """(module, function, lines) of every function with ``end_lineno - lineno >= 60``."""
    out = []
    for path in _modules():
        for fn in _functions(ast.parse(path.read_text())):
            if fn.end_lineno - fn.lineno >= LONG_FUNCTION:
                out.append((_rel(path), fn.name, fn.end_lineno - fn.lineno + 1))
    return sorted(out, key=lambda row: -row[2])


def module_lines() -> dict[str, int]:
    return {_rel(p): len(p.read_text().splitlines()) for p in _modules()}


@dataclass(frozen=True)
class LocalImport:
    module: str  # tfcli/x/y.py
    function: str
    line: int
    statement: str  # absolute, as the probe runs it

    @property
    def where(self) -> str:
        return f"{self.module}:{self.line} {self.function}(): {self.statement}"


def _absolute(node: ast.ImportFrom, path: Path) -> str:
    if not node.level:
        return node.module or ""
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _statement(node: ast.Import | ast.ImportFrom, path: Path) -> str:
    if isinstance(node, ast.Import):
        return "import " + ", ".join(a.name for a in node.names)
    return f"from {_absolute(node, path)} import " + ", ".join(a.name for a in node.names)


def _local_imports_in(path: Path) -> list[LocalImport]:
    out: list[LocalImport] = []

    def visit(node: ast.AST, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, child.name)
            elif isinstance(child, (ast.Import, ast.ImportFrom)) and function is not None:
                out.append(LocalImport(_rel(path), function, child.lineno, _statement(child, path)))
            else:
                visit(child, function)

    visit(ast.parse(path.read_text()), None)
    return out


def local_imports() -> list[LocalImport]:
    return [imp for path in _modules() for imp in _local_imports_in(path)]


def _roots(statement: str) -> list[str]:
    if statement.startswith("from "):
        return [statement.split()[1].split(".")[0]]
    return [name.strip().split(".")[0] for name in statement[len("import "):].split(",")]


@lru_cache(maxsize=None)
def heavy_loaded_by(statement: str) -> tuple[str, ...]:
    """The heavy libraries that running ``statement`` in a fresh interpreter tries to load."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, ",".join(HEAVY), statement],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return tuple(json.loads(out.stdout.strip().splitlines()[-1]))


def reasons(imports: list[LocalImport]) -> dict[LocalImport, str | None]:
    """Each local import's reason to be local, or None when it has none."""
    needs_probe: set[str] = set()
    for imp in imports:
        roots = _roots(imp.statement)
        if not any(r in HEAVY for r in roots) and not all(r in sys.stdlib_module_names for r in roots):
            needs_probe.add(imp.statement)
    with ThreadPoolExecutor(max_workers=4) as pool:
        probed = sorted(needs_probe)
        loaded = dict(zip(probed, pool.map(heavy_loaded_by, probed)))
    out: dict[LocalImport, str | None] = {}
    for imp in imports:
        exception = EXCEPTIONS.get((imp.module, imp.function))
        direct = [r for r in _roots(imp.statement) if r in HEAVY]
        if exception:
            out[imp] = exception
        elif direct:
            out[imp] = "defers " + ", ".join(direct)
        elif loaded.get(imp.statement):
            out[imp] = "defers " + ", ".join(loaded[imp.statement]) + " (loaded by what it imports)"
        else:
            out[imp] = None
    return out


def test_at_most_six_long_functions():
    rows = long_functions()
    listing = "\n".join(f"  {lines:4d}  {module}::{name}" for module, name, lines in rows)
    print(f"functions over {LONG_FUNCTION} lines ({len(rows)}):\n{listing}")
    assert len(rows) <= MAX_LONG_FUNCTIONS, f"{len(rows)} functions over {LONG_FUNCTION} lines:\n{listing}"


def test_no_module_over_500_lines():
    over = {m: n for m, n in module_lines().items() if n > MAX_MODULE_LINES}
    assert not over, f"modules over {MAX_MODULE_LINES} lines: {over}"


def test_module_sizes_report():
    """For information: the modules past 400 lines (the design's hint to split), largest first."""
    rows = sorted(((n, m) for m, n in module_lines().items() if n > REPORT_MODULE_LINES), reverse=True)
    print("\n".join(f"  {n:4d}  {m}" for n, m in rows) or "  none")


def test_function_local_imports_defer_a_heavy_library():
    found = reasons(local_imports())
    kept = [f"  {imp.where}  [{why}]" for imp, why in found.items() if why]
    unjustified = [f"  {imp.where}" for imp, why in found.items() if not why]
    print(f"function-local imports kept ({len(kept)}):\n" + "\n".join(kept))
    assert not unjustified, (
        f"{len(unjustified)} function-local imports defer none of {', '.join(HEAVY)}; import them at "
        "module level (a cycle means a rule sits in the wrong home):\n" + "\n".join(unjustified)
    )


# --- the checks bite ----------------------------------------------------------------------


def test_the_probe_tells_heavy_from_light_imports():
    assert heavy_loaded_by("import json") == ()
    assert heavy_loaded_by("from tfcli import errors") == ()
    assert heavy_loaded_by("import torch.nn") == ("torch",)
    assert "mlflow" in heavy_loaded_by("from tfcli import serving")  # serving imports MLflow at module level


def test_local_imports_are_found_and_resolved(tmp_path, monkeypatch):
    package = tmp_path / "tfcli" / "pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "mod.py").write_text(
        "import os\n"
        "def f():\n    import json\n    from . import other\n"
        "class C:\n    import sys\n    def m(self):\n        from ..pkg.other import g\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    found = [(i.function, i.line, i.statement) for i in _local_imports_in(package / "mod.py")]
    assert found == [("f", 3, "import json"), ("f", 4, "from tfcli.pkg import other"), ("m", 8, "from tfcli.pkg.other import g")]
    why = reasons([LocalImport("tfcli/pkg/mod.py", "f", 3, "import json"), LocalImport("tfcli/pkg/mod.py", "f", 9, "import ray")])
    assert list(why.values()) == [None, "defers ray"]
