"""Checking an export folder before anything in it is trusted.

An export folder may come from anywhere (a download, a colleague, a registry), so loading
one treats every file as hostile until checked:

- the folder and its files must be real folders and regular files, never symlinks;
- ``config.json`` and ``tokenizer.json`` are read with a size cap and parsed as JSON only,
  with a nesting cap (no RecursionError); ``config.json`` is then checked by pydantic
  models (:class:`ExportConfigModel`): types, bounds on every size that decides memory
  (vocabulary, width, layers, feed-forward width, positions) and on the total parameter
  count, and no unknown keys where the format is fixed;
- the safetensors header of ``model.safetensors`` (an 8-byte little-endian length, then that
  many bytes of JSON) is read and checked here, before safetensors or torch parse the file:
  its length is capped and must fit the file, every tensor entry must be well formed and lie
  inside the file; the file must hold at least as many values as the model ``config.json``
  describes has parameters (:func:`check_weights_fill_model`, before that model is built, so
  a small file cannot make the loader allocate a huge model), and the tensors' names and
  shapes must be those of that model (:func:`check_weights_match`, before any is loaded).

Every refusal is an :class:`~tfcli.export.folder.ExportError`: one line naming the file,
what is wrong and what to do. No torch import at module import time.
"""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path
from typing import Any, Literal, Mapping, Optional

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError, model_validator

from tfcli.errors import ExportError, UserError
from tfcli.model.config import KINDS, TransformerConfig, parameter_count
from tfcli.spec.schema import ModelSpec, StudySpec
from tfcli.spec.tasks import TASK_TYPES

#: Caps on what a folder's files may hold (a real export is a few KB of JSON).
MAX_CONFIG_BYTES = 8 * 1024 * 1024
MAX_TOKENIZER_BYTES = 64 * 1024 * 1024
MAX_HEADER_BYTES = 100 * 1024 * 1024  # safetensors' own cap
MAX_JSON_DEPTH = 64
#: The most parameters (plus positional-table entries) a loadable model may have.
MAX_PARAMETERS = 2_000_000_000
MAX_VOCAB_SIZE = 1_048_576
MAX_LABELS = 100_000

REEXPORT = "re-export the model with `tfcli export`"
#: Which model kind each task needs.
TASK_KINDS = {"translation": "seq2seq", "summarization": "seq2seq", "classification": "classifier", "qa": "span"}
#: Bytes per element of each safetensors dtype.
DTYPE_SIZES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8,
}  # fmt: skip
FLOAT_DTYPES = frozenset({"F16", "BF16", "F32", "F64"})


def export_error(path: Path | str, problem: str, todo: str = REEXPORT) -> UserError:
    """The one-line refusal: ``PATH: PROBLEM; TODO``."""
    text = f"{path}: {problem}; {todo}" if todo else f"{path}: {problem}"
    return ExportError(" ".join(text.splitlines()))


def short_repr(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ------------------------------------------------------------------------------------ files


def check_folder(folder: Path) -> None:
    """The folder itself must be a real folder, not a symlink to one."""
    if os.path.islink(folder):
        raise export_error(folder, "an export folder must be a real folder, but it is a symbolic link", "pass the folder it points to, or copy it")


def check_regular_file(path: Path, *, max_bytes: Optional[int] = None) -> int:
    """``path`` must be a regular file (not a symlink, folder, FIFO or device); its size."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise export_error(path, "the file is missing") from None
    except OSError as err:
        raise export_error(path, f"the file cannot be read ({err.strerror or err})", "check its permissions") from None
    if stat.S_ISLNK(info.st_mode):
        raise export_error(path, "export files must be regular files, but this is a symbolic link", "replace it with a copy of the file")
    if not stat.S_ISREG(info.st_mode):
        raise export_error(path, "export files must be regular files, but this is not one")
    if max_bytes is not None and info.st_size > max_bytes:
        raise export_error(path, f"the file must be at most {max_bytes} bytes, but it has {info.st_size}")
    return info.st_size


def read_bytes(path: Path, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most ``max_bytes`` (symlinks are not followed)."""
    check_regular_file(path, max_bytes=max_bytes)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as err:
        raise export_error(path, f"the file cannot be opened ({err.strerror or err})", "check that it is a regular file you may read") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise export_error(path, "export files must be regular files, but this is not one")
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise export_error(path, f"the file must be at most {max_bytes} bytes, but it has more")
    return data


def parse_json(path: Path | str, data: bytes, what: str = "the file") -> Any:
    """JSON from ``data``; refusals for bad UTF-8, bad JSON and nesting beyond the cap."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise export_error(path, f"{what} must be UTF-8 JSON, but byte {err.start} is not UTF-8") from None
    try:
        value = json.loads(text)
    except RecursionError:
        raise export_error(path, f"{what} must be JSON nested at most {MAX_JSON_DEPTH} levels deep, but it is nested far deeper") from None
    except ValueError as err:
        raise export_error(path, f"{what} must be JSON, but it does not parse ({err})") from None
    depth = json_depth(value)
    if depth > MAX_JSON_DEPTH:
        raise export_error(path, f"{what} must be JSON nested at most {MAX_JSON_DEPTH} levels deep, but it is nested deeper")
    return value


def json_depth(value: Any) -> int:
    """How deeply lists and objects nest in ``value`` (iteratively: no recursion limit)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_JSON_DEPTH:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


# ------------------------------------------------------------------------------ config.json


class _Fixed(BaseModel):
    """A section whose keys the export format fixes: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", strict=True)


class ModelSection(ModelSpec):
    """``config.json``'s ``model``: a TransformerConfig. The architecture's fields, their
    types and their bounds (which cap memory) are the study schema's own ``model`` section;
    an export adds what the data decided (vocabulary, kind, classes, padding id)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    vocab_size: StrictInt = Field(ge=1, le=MAX_VOCAB_SIZE)
    kind: Literal[KINDS] = "seq2seq"
    num_classes: StrictInt = Field(2, ge=1, le=MAX_LABELS)
    pad_id: StrictInt = Field(0, ge=0)

    @model_validator(mode="after")
    def _fits_in_memory(self) -> "ModelSection":
        count = parameter_count(self.model_dump())
        table = self.max_length * self.d_model  # the sinusoidal table, a buffer
        if count is None or count + table > MAX_PARAMETERS:
            raise ValueError(f"the model must have at most {MAX_PARAMETERS:.0e} parameters, but this one has {count}")
        return self


class TokenizerSection(_Fixed):
    file: StrictStr = "tokenizer.json"
    kind: Optional[StrictStr] = None
    vocab_size: Optional[StrictInt] = None
    requested_vocab_size: Optional[StrictInt] = None
    lowercase: Optional[StrictBool] = None
    max_source_length: Optional[StrictInt] = None
    max_target_length: Optional[StrictInt] = None


class DecodingSection(_Fixed):
    beam_size: Optional[StrictInt] = Field(None, ge=1)
    length_penalty: Optional[float] = None
    max_decode_length: Optional[StrictInt] = Field(None, ge=1)
    batch_size: Optional[StrictInt] = Field(None, ge=1)
    batch_tokens: Optional[StrictInt] = Field(None, ge=1)


class ExportConfigModel(_Fixed):
    """``config.json`` of an export folder (the keys :func:`export_config` writes).

    ``metrics``, ``hyperparameters``, ``data``, ``training`` and ``provenance`` are
    descriptive (the model card's); only their type is checked. ``study_spec`` is checked
    by :class:`~tfcli.spec.schema.StudySpec` in :func:`validate_export_config`.
    """

    format: StrictStr
    task: Literal[TASK_TYPES]
    model: ModelSection
    labels: Optional[list[StrictStr]] = Field(None, max_length=MAX_LABELS)
    tokenizer: Optional[TokenizerSection] = None
    decoding: Optional[DecodingSection] = None
    metrics: Optional[dict[str, Any]] = None
    hyperparameters: Optional[dict[str, Any]] = None
    data: Optional[dict[str, Any]] = None
    study_spec: dict[str, Any]
    training: Optional[dict[str, Any]] = None
    provenance: Optional[dict[str, Any]] = None


def _first_problem(err: ValidationError, prefix: str = "") -> str:
    problems = err.errors(include_url=False)
    first = problems[0]
    where = ".".join(str(part) for part in (prefix, *first["loc"]) if part != "")
    message = str(first["msg"])
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    shown = first.get("input")
    got = "" if first["type"] in ("missing", "value_error") or isinstance(shown, (dict, list)) else f", but got {short_repr(shown)}"
    more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
    return f"{where or 'the file'}: {message}{got}{more}"


def validate_export_config(path: Path, raw: Any) -> dict:
    """``raw`` (the parsed ``config.json`` at ``path``) checked; returns it as a dict."""
    try:
        checked = ExportConfigModel.model_validate(raw)
    except ValidationError as err:
        raise export_error(path, _first_problem(err)) from None
    model = checked.model
    try:
        TransformerConfig.from_dict(model.model_dump())
    except UserError as err:
        raise export_error(path, f"model: {err}") from None
    task, kind = checked.task, model.kind
    if TASK_KINDS[task] != kind:
        raise export_error(path, f"model.kind must be {TASK_KINDS[task]!r} for task {task!r}, but got {kind!r}")
    if task == "classification":
        labels = checked.labels
        if not labels:
            raise export_error(path, f"labels must list the classes of a classification model, but got {short_repr(labels)}")
        if len(set(labels)) != len(labels):
            raise export_error(path, "labels must not repeat a class, but some repeat")
        if len(labels) != model.num_classes:
            raise export_error(path, f"labels must list model.num_classes={model.num_classes} classes, but list {len(labels)}")
    try:
        spec = StudySpec.model_validate(checked.study_spec)
    except ValidationError as err:
        raise export_error(path, _first_problem(err, "study_spec")) from None
    except UserError as err:
        raise export_error(path, f"study_spec: {err}") from None
    if spec.task.type != task:
        raise export_error(path, f"study_spec.task.type must be the task {task!r}, but got {spec.task.type!r}")
    if spec.model.max_length > model.max_length:
        raise export_error(path, f"study_spec.model.max_length must be at most model.max_length={model.max_length}, but got {spec.model.max_length}")
    return raw


# ------------------------------------------------------------------------------ safetensors


def read_safetensors_header(path: Path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """The tensors ``path`` holds, ``{name: (dtype, shape)}``, from its checked header."""
    size = check_regular_file(path)
    if size < 8:
        raise export_error(path, f"a safetensors file must start with an 8-byte header length, but the file has {size} bytes")
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError as err:
        raise export_error(path, f"the file cannot be opened ({err.strerror or err})", "check that it is a regular file you may read") from None
    with os.fdopen(fd, "rb") as handle:
        length = int.from_bytes(handle.read(8), "little")
        if length > MAX_HEADER_BYTES:
            raise export_error(path, f"the safetensors header must be at most {MAX_HEADER_BYTES} bytes, but its length field says {length}")
        if length < 2 or 8 + length > size:
            raise export_error(path, f"the safetensors header must fit in the file, but its length field says {length} bytes and the file has {size}")
        data = handle.read(length)
    header = parse_json(path, data, "the safetensors header")
    if not isinstance(header, dict):
        raise export_error(path, f"the safetensors header must be a JSON object, but it is a {type(header).__name__}")
    body = size - 8 - length
    tensors: dict[str, tuple[str, tuple[int, ...]]] = {}
    spans = []
    for name, entry in header.items():
        if name == "__metadata__":
            if entry is not None and not (isinstance(entry, dict) and all(isinstance(v, str) for v in entry.values())):
                raise export_error(path, "the safetensors header's __metadata__ must map names to strings")
            continue
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise export_error(path, f"tensor {short_repr(name)} in the safetensors header must have exactly dtype, shape and data_offsets")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if not isinstance(dtype, str) or dtype not in DTYPE_SIZES:
            raise export_error(path, f"tensor {short_repr(name)} must have a safetensors dtype, but has {short_repr(dtype)}")
        if not isinstance(shape, list) or len(shape) > 8 or not all(type(d) is int and 0 <= d < 2**40 for d in shape):
            raise export_error(path, f"tensor {short_repr(name)} must have a shape of at most 8 non-negative sizes, but has {short_repr(shape)}")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets) and 0 <= offsets[0] <= offsets[1] <= body):
            raise export_error(path, f"tensor {short_repr(name)} must lie inside the file's {body} data bytes, but its data_offsets are {short_repr(offsets)}")
        if offsets[1] - offsets[0] != math.prod(shape) * DTYPE_SIZES[dtype]:
            raise export_error(path, f"tensor {short_repr(name)} must take {math.prod(shape) * DTYPE_SIZES[dtype]} bytes for its shape {shape} and dtype {dtype}, but takes {offsets[1] - offsets[0]}")
        tensors[name] = (dtype, tuple(shape))
        spans.append((offsets[0], offsets[1], name))
    spans.sort()
    for (_, end, before), (start, _, after) in zip(spans, spans[1:]):
        if start < end:
            raise export_error(path, f"tensors {short_repr(before)} and {short_repr(after)} overlap in the file")
    return tensors


def check_weights_fill_model(path: Path, tensors: Mapping[str, tuple[str, tuple[int, ...]]], model_config: Mapping[str, Any]) -> None:
    """The file must hold at least as many values as the model ``config.json`` describes has
    parameters: so building that model never takes more memory than the file's own size
    warrants (a small file cannot make the loader allocate a huge model)."""
    held = sum(math.prod(shape) for _, shape in tensors.values())
    needed = parameter_count(model_config) or 0
    if held < needed:
        raise export_error(
            path,
            f"the weights hold {held} values, but the model that config.json describes has {needed} parameters",
            "use the config.json the weights were exported with, or export again",
        )


def check_weights_match(path: Path, tensors: Mapping[str, tuple[str, tuple[int, ...]]], model) -> None:
    """The tensors of the header (:func:`read_safetensors_header`) must be those of ``model``
    (built from ``config.json``, not yet loaded): the same names (a tied tensor saved once), shapes and kinds
    of dtype."""
    expected = model.state_dict(keep_vars=True)
    groups: dict[int, list[str]] = {}
    for name, tensor in expected.items():
        groups.setdefault(id(tensor), []).append(name)
    for name, (dtype, shape) in tensors.items():
        if name not in expected:
            raise export_error(path, f"holds tensor {short_repr(name)}, which the model that config.json describes does not have", "export the model again, or use the config.json it was exported with")
        want = expected[name]
        if tuple(want.shape) != shape:
            raise export_error(
                path,
                f"tensor {name} has shape {list(shape)}, but the model that config.json describes needs {list(want.shape)}",
                "use the config.json the weights were exported with, or export again",
            )
        if (dtype in FLOAT_DTYPES) != want.is_floating_point():
            raise export_error(path, f"tensor {name} has dtype {dtype}, which does not fit the model's {str(want.dtype).replace('torch.', '')}")
    for names in groups.values():
        if not any(n in tensors for n in names):
            raise export_error(path, f"lacks tensor {names[0]}, which the model that config.json describes needs", "export the model again")
