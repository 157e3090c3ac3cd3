"""Imports run one way (docs/architecture.md): between packages only downward, and no cycle
between any two modules, counting function-local imports (a cycle hidden inside a function is
still a rule in the wrong home). TYPE_CHECKING-only imports are left out: they never run."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[1] / "tfcli"

#: A package may import packages of a lower rank, and of its own rank if no cycle results.
RANK = {
    "errors": 0, "records": 0, "crash_points": 0,
    "spec": 1,
    "model": 2, "data": 2, "metrics": 2,
    "train": 3, "tracking": 3, "baselines": 3,
    "cluster": 4,
    "study": 5, "report": 5,
    "export": 6,
    "serving": 7,
    "cli": 8,
    "__main__": 9,
    "__init__": 0,  # tfcli/__init__.py: only the version
}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for n in ast.walk(node))
    return skip


def imports_of(source: str, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The tfcli modules ``source`` imports, anywhere in it (``from a import b`` counts as
    ``a.b`` when that is a module, else ``a``)."""
    tree = ast.parse(source)
    skip = _type_checking_nodes(tree)
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                out.add(sub if sub in known else target)
    return {m for m in out if m == "tfcli" or m.startswith("tfcli.")}


def module_graph(root: Path) -> dict[str, set[str]]:
    files = {module_name(p, root): p for p in root.rglob("*.py")}
    known = set(files)
    graph = {}
    for module, path in files.items():
        deps = imports_of(path.read_text(encoding="utf-8"), module, path.name == "__init__.py", known)
        graph[module] = {d for d in deps if d in known and d != module}
    return graph


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for src, deps in graph.items():
        for dst in deps:
            a, b = package_of(src), package_of(dst)
            if a != b and RANK.get(b, 99) > RANK.get(a, 99):
                bad.append(f"{src} -> {dst} ({a} may not import {b})")
    return sorted(bad)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for src, deps in graph.items():
        out.setdefault(package_of(src), set()).update(package_of(d) for d in deps if package_of(d) != package_of(src))
    return out


def _is_package_init(module: str) -> bool:
    return (ROOT.parent / module.replace(".", "/") / "__init__.py").is_file()


def without_package_inits(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph with the edges *into* a package's ``__init__`` from inside that package
    dropped: a package that re-exports its modules imports them, and a module that imports a
    sibling through the package (``from tfcli.tracking import x``) is not a cycle of rules."""
    out = {}
    for src, deps in graph.items():
        out[src] = {d for d in deps if not (_is_package_init(d) and src.startswith(d + "."))}
    return out


def test_every_package_is_ranked():
    packages = {package_of(m) for m in module_graph(ROOT)}
    assert packages <= set(RANK), f"add these packages to RANK and to docs/architecture.md: {sorted(packages - set(RANK))}"


def test_no_upward_import_between_packages():
    assert upward_imports(module_graph(ROOT)) == []


def test_no_cycle_between_packages():
    assert cycles(package_graph(module_graph(ROOT))) == []


def test_no_cycle_between_modules():
    assert cycles(without_package_inits(module_graph(ROOT))) == []


@pytest.mark.parametrize(
    "files, problem",
    [
        ({"spec/__init__.py": "", "spec/schema.py": "def f():\n    from tfcli.study import runner\n", "study/__init__.py": "", "study/runner.py": ""}, "upward"),
        ({"train/__init__.py": "", "train/loop.py": "import tfcli.tracking.store\n", "tracking/__init__.py": "", "tracking/store.py": "from tfcli.train import loop\n"}, "package cycle"),
        ({"data/__init__.py": "", "data/a.py": "from tfcli.data import b\n", "data/b.py": "def g():\n    from tfcli.data.a import x\n"}, "module cycle"),
        ({"spec/__init__.py": "", "spec/schema.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from tfcli.study import runner\n", "study/__init__.py": "", "study/runner.py": ""}, None),
    ],
    ids=["function-local-upward", "package-cycle", "function-local-module-cycle", "type-checking-only"],
)
def test_the_checks_catch_a_synthetic_violation(tmp_path, files, problem):
    root = tmp_path / "tfcli"
    for name, text in {"__init__.py": "", **files}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    graph = module_graph(root)
    found = {
        "upward": bool(upward_imports(graph)),
        "package cycle": bool(cycles(package_graph(graph))),
        "module cycle": bool(cycles(graph)),
    }
    assert found[problem] if problem else not any(found.values()), found
