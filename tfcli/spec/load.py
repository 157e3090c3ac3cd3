"""Reading a study file: safe YAML with line numbers, every problem reported at once.

``load_spec(path)`` returns a validated :class:`StudySpec` or raises :class:`StudySpecError`
carrying one :class:`SpecProblem` per problem, each located as ``FILE:LINE: field.path``.
"""

from __future__ import annotations

import difflib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from tfcli.errors import SpecProblem, StudySpecError
from tfcli.spec.rules import cross_check
from tfcli.spec.schema import UNION_TAGS, DataFiles, ParamSpec, StudySpec
from tfcli.spec.wandb import apply_aliases, sweep_hint

_MAX_NODES = 100_000
#: Deeper than any study file needs; the point where a too deeply nested document is reported.
_MAX_DEPTH = 100

Path_ = tuple[Any, ...]


@dataclass
class YamlDocument:
    """A parsed YAML document and the line (1-based) where each path of keys starts."""

    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)
    duplicates: list[tuple[Path_, int, int]] = field(default_factory=list)

    def line_of(self, path: Path_) -> int | None:
        """The line of the deepest prefix of ``path`` that the document has."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return None


class _TooLarge(Exception):
    pass


class _ValueAt(Exception):
    """A value that cannot be constructed (``2001-02-30`` as a timestamp), and its node."""

    def __init__(self, node: yaml.Node, error: Exception):
        super().__init__(str(error))
        self.node = node
        self.error = error


class StudyLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader (no Python objects), whose construction errors name their node."""

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep=deep)
        except _ValueAt:
            raise
        except (ValueError, TypeError, OverflowError) as err:
            raise _ValueAt(node, err) from None


#: The loader study files are read with; tests swap it to show the safety test can fail.
YAML_LOADER: type[yaml.SafeLoader] = StudyLoader


def _index_lines(root: yaml.Node) -> tuple[dict[Path_, int], list[tuple[Path_, int, int]], dict[int, Path_]]:
    """The line of every path of keys, the duplicated keys, and the path of every node (by id)."""
    constructor = yaml.constructor.SafeConstructor()
    lines: dict[Path_, int] = {(): root.start_mark.line + 1}
    duplicates: list[tuple[Path_, int, int]] = []
    paths: dict[int, Path_] = {}
    visited = 0

    def walk(node: yaml.Node, path: Path_, on_path: frozenset[int]) -> None:
        nonlocal visited
        visited += 1
        if visited > _MAX_NODES:
            raise _TooLarge
        if id(node) in on_path:
            return
        paths.setdefault(id(node), path)
        inside = on_path | {id(node)}
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    continue
                try:
                    key = constructor.construct_object(key_node)
                except (yaml.YAMLError, ValueError, TypeError, OverflowError):
                    continue
                if not isinstance(key, typing.Hashable):
                    continue
                child = (*path, key)
                line = key_node.start_mark.line + 1
                if child in lines and key_node.tag != "tag:yaml.org,2002:merge":
                    duplicates.append((child, line, lines[child]))
                lines.setdefault(child, line)
                walk(value_node, child, inside)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                lines.setdefault((*path, index), item.start_mark.line + 1)
                walk(item, (*path, index), inside)

    walk(root, (), frozenset())
    return lines, duplicates, paths


def _walk_keys(text: str, max_depth: int | None = None) -> tuple[int, Path_]:
    """The line and key path where the event stream first nests deeper than ``max_depth``,
    or, for a document YAML cannot parse, of the last key read before the error.

    Read from PyYAML's event stream, which (unlike composing nodes) does not recurse.
    """
    frames: list[list[Any]] = []  # [is_mapping, expecting_key, key or index]
    where: tuple[int, Path_] = (1, ())

    def value_done() -> None:
        if frames:
            frame = frames[-1]
            if frame[0]:
                frame[1] = True
            else:
                frame[2] += 1

    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                frames.pop()
                value_done()
                continue
            if not isinstance(event, yaml.NodeEvent):
                continue
            if frames and frames[-1][0] and frames[-1][1]:
                frames[-1][1] = False
                frames[-1][2] = event.value if isinstance(event, yaml.ScalarEvent) else "?"
                where = (event.start_mark.line + 1, tuple(f[2] for f in frames))
                if not isinstance(event, yaml.CollectionStartEvent):
                    continue
            if isinstance(event, yaml.CollectionStartEvent):
                frames.append([isinstance(event, yaml.MappingStartEvent), True, 0])
                if max_depth is not None and len(frames) > max_depth:
                    return event.start_mark.line + 1, tuple(f[2] for f in frames[:-1])
            else:
                value_done()
    except yaml.YAMLError:
        pass
    return where


def parse_yaml(text: str, filename: str) -> YamlDocument:
    """Parse one YAML document safely; syntax errors become a problem with line and column."""
    lines: dict[Path_, int] = {}
    paths: dict[int, Path_] = {}
    try:
        loader = YAML_LOADER(text)
        try:
            root = loader.get_single_node()
            if root is None:
                return YamlDocument(data=None)
            lines, duplicates, paths = _index_lines(root)
            data = loader.construct_document(root)
        finally:
            loader.dispose()
    except _ValueAt as err:
        path = paths.get(id(err.node), ())
        line = err.node.start_mark.line + 1
        raise StudySpecError([SpecProblem(filename, line, format_path(path), f"cannot read the value {_short(err.node.value)!s}: {err}")]) from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else None
        column = f" (column {mark.column + 1})" if mark else ""
        reason = "; ".join(str(part) for part in (err.context, err.problem) if part)
        _, path = _walk_keys(text)
        raise StudySpecError([SpecProblem(filename, line, format_path(path), f"YAML syntax error{column}: {reason}")]) from None
    except yaml.YAMLError as err:
        raise StudySpecError([SpecProblem(filename, None, "", f"YAML error: {err}")]) from None
    except _TooLarge:
        raise StudySpecError([SpecProblem(filename, 1, "", "the document is too large for a study file")]) from None
    except RecursionError:
        line, path = _walk_keys(text, _MAX_DEPTH)
        path = path[:3]  # where the nesting starts; the full path would be hundreds of keys
        raise StudySpecError(
            [SpecProblem(filename, line, format_path(path), f"the value is nested deeper than a study file allows ({_MAX_DEPTH} levels)")]
        ) from None
    except (ValueError, TypeError, OverflowError) as err:
        raise StudySpecError([SpecProblem(filename, None, "", f"cannot read a value: {err}")]) from None
    return YamlDocument(data=data, lines=lines, duplicates=duplicates)


def _model_at(path: Path_) -> type[BaseModel] | None:
    """The pydantic model that validates the mapping at ``path`` (for "did you mean")."""
    model: Any = StudySpec
    for part in path:
        info = model.model_fields.get(part)
        if info is None:
            return None
        model = _unwrap(info.annotation)
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
    return model


def _unwrap(annotation: Any) -> Any:
    """The model class inside Optional[...], Annotated[...] or our data-source union."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin is typing.Union or str(origin) == "types.UnionType":
        for arg in typing.get_args(annotation):
            inner = _unwrap(arg)
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                return inner
    return annotation


def _fields_for(path: Path_) -> list[str]:
    if len(path) == 3 and path[:2] == ("search", "parameters"):
        return list(ParamSpec.model_fields)
    if len(path) == 2 and path == ("task", "data"):
        return list(DataFiles.model_fields)
    model = _model_at(path)
    return list(model.model_fields) if model is not None else []


def _suggest(key: Any, choices: list[str]) -> str:
    if not choices:
        return f"unknown key {key!r}"
    close = difflib.get_close_matches(str(key), choices, n=1, cutoff=0.6)
    if close:
        return f"unknown key {key!r}; did you mean {close[0]!r}?"
    return f"unknown key {key!r}; expected one of: {', '.join(choices)}"


def _data_path(data: Any, loc: Path_, error_type: str) -> Path_:
    """Drop pydantic's union tags from ``loc``, keeping only keys that exist in the data."""
    path: list[Any] = []
    current = data
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        if isinstance(current, dict) and part in current:
            path.append(part)
            current = current[part]
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            path.append(part)
            current = current[part]
        elif isinstance(current, dict) and last and error_type in ("missing", "extra_forbidden"):
            path.append(part)
        elif isinstance(current, dict) and error_type == "missing" and part not in UNION_TAGS:
            path.append(part)
            current = {}
        elif isinstance(current, dict) and not last and part not in UNION_TAGS:
            path.append(part)
            current = {}
    return tuple(path)


def format_path(path: Path_) -> str:
    return ".".join(str(part) for part in path)


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _pydantic_problems(err: ValidationError, doc: YamlDocument, filename: str) -> list[SpecProblem]:
    problems: list[SpecProblem] = []
    seen: set[tuple[str, str]] = set()
    for item in err.errors(include_url=False):
        path = _data_path(doc.data, tuple(item["loc"]), item["type"])
        if item["type"] == "extra_forbidden":
            message = _suggest(path[-1] if path else "?", _fields_for(path[:-1]))
        elif item["type"] == "missing":
            message = "required field is missing"
        else:
            message = item["msg"]
            if message.startswith("Value error, "):
                message = message[len("Value error, ") :]
            if "but got" not in message:
                message = f"{message[:1].lower()}{message[1:]}, but got {_short(item.get('input'))}"
        hint = sweep_hint(path, item.get("input"))
        if hint and item["type"] == "extra_forbidden":
            message = f"unknown key {path[-1]!r}; {hint}"
        elif hint:
            message = f"{message} ({hint})"
        key = (format_path(path), message)
        if key in seen:
            continue
        seen.add(key)
        problems.append(SpecProblem(filename, doc.line_of(path), format_path(path), message))
    return problems


def check_spec_text(text: str, filename: str = "<study>", base_dir: Path | None = None) -> tuple[StudySpec | None, list[SpecProblem]]:
    """Validate a study document; return the spec (when valid) and every problem found."""
    try:
        doc = parse_yaml(text, filename)
    except StudySpecError as err:
        return None, err.problems
    if not isinstance(doc.data, dict):
        got = "an empty file" if doc.data is None else f"a {type(doc.data).__name__}"
        return None, [SpecProblem(filename, doc.line_of(()) or 1, "", f"a study file must be a mapping of sections, but got {got}")]

    problems = [
        SpecProblem(filename, line, format_path(path), f"duplicate key (first given on line {first})")
        for path, line, first in doc.duplicates
    ]
    for old, new in apply_aliases(doc.data):
        if old in doc.lines:
            doc.lines[new] = doc.lines[old]
    spec: StudySpec | None = None
    try:
        spec = StudySpec.model_validate(doc.data)
    except ValidationError as err:
        problems.extend(_pydantic_problems(err, doc, filename))
    except (RecursionError, OverflowError) as err:
        problems.append(SpecProblem(filename, 1, "", f"cannot validate the document: {type(err).__name__}"))

    for path, message in cross_check(doc.data, base_dir or Path.cwd()):
        problems.append(SpecProblem(filename, doc.line_of(path), format_path(path), message))

    problems.sort(key=lambda p: (p.line or 0, p.path))
    if problems:
        return None, problems
    assert spec is not None
    return spec.located(str(base_dir or Path.cwd()), filename), []


def check_spec_file(path: str | Path) -> tuple[StudySpec | None, list[SpecProblem]]:
    file = Path(path)
    name = str(path)
    if not file.is_file():
        where = "is a folder" if file.is_dir() else "does not exist"
        return None, [SpecProblem(name, None, "", f"study file {where}; give the path of a .yaml study file (tfcli study init NAME writes one)")]
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        return None, [SpecProblem(name, None, "", f"not UTF-8 text ({err.reason} at byte {err.start})")]
    except OSError as err:
        return None, [SpecProblem(name, None, "", f"cannot read the file: {err.strerror}")]
    return check_spec_text(text, name, file.resolve().parent)


def load_spec(path: str | Path) -> StudySpec:
    """Read and validate a study file; raise :class:`StudySpecError` listing every problem."""
    spec, problems = check_spec_file(path)
    if problems:
        raise StudySpecError(problems)
    assert spec is not None
    return spec


def load_spec_text(text: str, filename: str = "<study>", base_dir: Path | None = None) -> StudySpec:
    spec, problems = check_spec_text(text, filename, base_dir)
    if problems:
        raise StudySpecError(problems)
    assert spec is not None
    return spec


def field_problem(spec: StudySpec, path: Path_, message: str) -> StudySpecError:
    """A problem with a field of a loaded study that only a later check can see (a study the
    store does not hold), located as the file's own problems are: ``FILE:LINE: field: message``
    (the line read from the study file as it is now)."""
    filename = spec.source_file or "<study>"
    line = None
    try:
        line = parse_yaml(Path(filename).read_text(encoding="utf-8"), filename).line_of(path)
    except (OSError, UnicodeDecodeError, StudySpecError):
        pass
    return StudySpecError([SpecProblem(filename, line, format_path(path), message)])
