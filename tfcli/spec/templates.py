"""``tfcli study init``: commented study templates, one per task, that validate as written."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from tfcli.spec.tasks import TASK_TYPES
from tfcli.errors import StudyError

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def template_text(name: str, task: str) -> str:
    if task not in TASK_TYPES:
        raise StudyError(f"--task must be one of {', '.join(TASK_TYPES)}, but got {task!r}")
    if not NAME_PATTERN.match(name):
        raise StudyError(
            f"a study name uses letters, digits, '.', '_' and '-' and starts with a letter or digit, but got {name!r}"
        )
    text = resources.files("tfcli").joinpath("templates", f"{task}.yaml").read_text(encoding="utf-8")
    return text.replace("__NAME__", name)


def write_template(name: str, task: str, directory: Path, *, force: bool = False) -> Path:
    text = template_text(name, task)
    path = Path(directory) / f"{name}.yaml"
    if path.exists() and not force:
        raise StudyError(f"{path} already exists; pass --force to overwrite it or choose another name")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
