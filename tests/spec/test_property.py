"""Property: whatever YAML a user writes, ``load_spec`` returns a spec or a user error."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tfcli.errors import UserError
from tfcli.spec.load import load_spec_text
from tfcli.spec.schema import StudySpec

pytestmark = pytest.mark.timeout(300)

REPO = Path(__file__).resolve().parents[2]
VALID_STUDIES = [yaml.safe_load(p.read_text()) for p in sorted((REPO / "studies").glob("*.yaml"))]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["builtin:dates", "uniform", "log_uniform", "grid", "tpe", "asha", "pbt", "bleu", "max", "30m", "model.d_model", "train.lr"]),
)
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.one_of(st.text(max_size=8), scalars), children, max_size=4),
    max_leaves=20,
)
keys = st.sampled_from(
    ["name", "task", "type", "data", "model", "train", "search", "parameters", "values", "min", "max", "distribution",
     "objective", "metric", "mode", "scheduler", "budget", "time", "heads", "d_model", "q", "value", "zzz"]
)

SETTINGS = settings(max_examples=int(__import__("os").environ.get("TFCLI_HYPOTHESIS_EXAMPLES", "150")), deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(text: str) -> None:
    try:
        spec = load_spec_text(text, "prop.yaml")
    except UserError:
        return
    assert isinstance(spec, StudySpec)


@SETTINGS
@given(st.text(max_size=200))
def test_random_text(text):
    check(text)


@SETTINGS
@given(values)
def test_random_yaml_documents(doc):
    try:
        text = yaml.safe_dump(doc, allow_unicode=True)
    except yaml.YAMLError:
        return
    check(text)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, child in node.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _paths(child, (*prefix, index))


def _mutate(doc, path, action, payload, key):
    doc = copy.deepcopy(doc)
    if not path:
        return payload if action == "replace" else doc
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if action == "delete":
        del parent[last]
    elif action == "replace":
        parent[last] = payload
    elif action == "insert" and isinstance(parent[last], dict):
        parent[last][key] = payload
    elif action == "insert" and isinstance(parent[last], list):
        parent[last].append(payload)
    else:
        parent[last] = payload
    return doc


@SETTINGS
@given(st.data())
def test_mutated_valid_studies(data):
    doc = data.draw(st.sampled_from(VALID_STUDIES))
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        path = data.draw(st.sampled_from(list(_paths(doc))))
        action = data.draw(st.sampled_from(["delete", "replace", "insert"]))
        doc = _mutate(doc, path, action, data.draw(values), data.draw(keys))
    try:
        text = yaml.safe_dump(doc, allow_unicode=True)
    except yaml.YAMLError:
        return
    check(text)


def test_shipped_studies_are_valid():
    for doc in VALID_STUDIES:
        load_spec_text(yaml.safe_dump(doc), "s.yaml")
