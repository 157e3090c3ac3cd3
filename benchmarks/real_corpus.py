"""A real-text classification corpus: Python standard library docstrings, labelled by chapter.

Each example is one paragraph of a docstring (a module's, a class's or a function's) from the
standard library of the Python that runs this script; its label is the chapter of the Python
Library Reference (https://docs.python.org/3/library/) that documents the module it comes from:
``internet`` for ``http``, ``urllib``, ``smtplib``..., ``markup`` for ``xml`` and ``html``, and
so on (:data:`CHAPTERS`). The text is always there: every Python ships it, so the tests can
build the corpus on a fresh machine (Debian's minimal images leave manual pages out).

The text is under the Python Software Foundation License Version 2 (the ``LICENSE.txt`` beside
the standard library, Debian's ``/usr/share/doc/libpython3.X-stdlib/copyright``).

Paragraphs whose input repeats another's up to case and whitespace (tfcli's leakage rule,
:func:`tfcli.data.leakage.normalise`) are kept once, and dropped altogether where two chapters
share them, so no split shares an input with another. Each chapter is split 80/10/10 with a
seeded shuffle: the same Python and seed give the same files.

    python benchmarks/real_corpus.py data/stdlib-docs [--seed 0]
"""

from __future__ import annotations

import argparse
import ast
import random
import re
import sys
import sysconfig
from collections import Counter
from pathlib import Path
from typing import Iterator, NamedTuple

from tfcli.data.leakage import normalise

CHAPTERS: dict[str, tuple[str, ...]] = {
    "internet": ("http", "urllib", "smtplib", "imaplib", "ftplib", "poplib", "xmlrpc", "wsgiref",
                 "socketserver", "ipaddress", "uuid", "webbrowser"),
    "data_handling": ("email", "json", "mailbox", "mimetypes", "base64", "quopri"),
    "markup": ("xml", "html"),
    "concurrency": ("threading", "multiprocessing", "concurrent", "subprocess", "sched", "queue"),
    "networking": ("asyncio", "socket", "ssl", "selectors"),
    "devtools": ("typing", "pydoc", "doctest", "unittest"),
    "numeric": ("numbers", "_pydecimal", "fractions", "random", "statistics"),
    "importing": ("importlib", "zipimport", "pkgutil", "modulefinder", "runpy"),
    "os": ("os", "_pyio", "argparse", "getopt", "logging", "getpass", "platform", "ctypes"),
    "runtime": ("sysconfig", "warnings", "dataclasses", "contextlib", "abc", "atexit",
                "traceback", "inspect", "site"),
}
"""Chapter of the Library Reference -> the pure-Python modules it documents (missing ones skipped)."""

SPLITS = {"train": 0.8, "valid": 0.1, "test": 0.1}
MIN_CHARS, MIN_WORDS = 30, 5
SKIPPED_DIRS = {"test", "tests", "idle_test", "site-packages", "__pycache__"}
_BLANK_LINE = re.compile(r"\n\s*\n")
_DOCUMENTED = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


class Example(NamedTuple):
    text: str
    label: str


def module_files(stdlib: Path, module: str) -> list[Path]:
    """The source files of ``module`` (a ``.py`` file or a package), tests left out."""
    single = stdlib / f"{module}.py"
    if single.is_file():
        return [single]
    package = stdlib / module
    if not package.is_dir():
        return []
    return sorted(p for p in package.rglob("*.py") if not SKIPPED_DIRS & set(p.relative_to(stdlib).parts))


def paragraphs(source: str) -> Iterator[str]:
    """Every prose paragraph of every docstring in ``source``, its whitespace collapsed."""
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, _DOCUMENTED):
            continue
        doc = ast.get_docstring(node)
        for para in _BLANK_LINE.split(doc or ""):
            text = " ".join(para.split())
            if len(text) >= MIN_CHARS and len(text.split()) >= MIN_WORDS and not text.startswith(">>>"):
                yield text


def collect(stdlib: Path | None = None) -> list[Example]:
    """One example per distinct normalised paragraph; a paragraph two chapters share is dropped."""
    root = stdlib or Path(sysconfig.get_paths()["stdlib"])
    first: dict[str, Example] = {}
    labels: dict[str, set[str]] = {}
    for label, modules in CHAPTERS.items():
        for module in modules:
            for path in module_files(root, module):
                for text in paragraphs(path.read_text(encoding="utf-8")):
                    key = normalise(text)
                    first.setdefault(key, Example(text, label))
                    labels.setdefault(key, set()).add(label)
    return [example for key, example in first.items() if len(labels[key]) == 1]


def split(examples: list[Example], seed: int = 0) -> dict[str, list[Example]]:
    """Each chapter shuffled with ``seed`` and cut 80/10/10; each split shuffled again."""
    rng = random.Random(seed)
    out: dict[str, list[Example]] = {name: [] for name in SPLITS}
    for label in sorted({e.label for e in examples}):
        group = sorted(e for e in examples if e.label == label)
        rng.shuffle(group)
        n_valid = n_test = round(len(group) * SPLITS["valid"])
        out["valid"] += group[:n_valid]
        out["test"] += group[n_valid:n_valid + n_test]
        out["train"] += group[n_valid + n_test:]
    for name in SPLITS:
        rng.shuffle(out[name])
    return out


def write(splits: dict[str, list[Example]], out_dir: Path) -> dict[str, Path]:
    """``train.tsv``, ``valid.tsv`` and ``test.tsv`` (``text<TAB>label``) under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, examples in splits.items():
        paths[name] = out_dir / f"{name}.tsv"
        paths[name].write_text("".join(f"{e.text}\t{e.label}\n" for e in examples), encoding="utf-8")
    return paths


def build(out_dir: Path, seed: int = 0) -> dict[str, list[Example]]:
    """Collect, split and write the corpus; the splits as written."""
    splits = split(collect(), seed)
    write(splits, out_dir)
    return splits


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    splits = build(args.out_dir, args.seed)
    print(f"Python {sys.version.split()[0]} standard library, seed {args.seed}, under {args.out_dir}/")
    print("split    examples  " + "  ".join(CHAPTERS))
    for name, examples in splits.items():
        counts = Counter(e.label for e in examples)
        print(f"{name:<8} {len(examples):>8}  " + "  ".join(f"{counts[c]:>{len(c)}}" for c in CHAPTERS))


if __name__ == "__main__":
    main()
