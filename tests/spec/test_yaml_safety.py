"""Study files are read safely, and every refusal of a well-formed YAML document names
FILE:LINE and a field, whatever YAML 1.1 does to the text (timestamps, huge floats, anchors
and merge keys, deep nesting, duplicate keys)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tfcli.errors import StudySpecError
from tfcli.spec import load as study_load

pytestmark = pytest.mark.timeout(300)

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = (REPO / "studies" / "quickstart.yaml").read_text()


def _payload(marker: Path) -> str:
    return f"name: !!python/object/apply:os.mkdir ['{marker}']\ntask: {{type: qa, data: 'builtin:facts'}}\n"


def test_yaml_payloads_never_run_and_the_check_would_see_them(tmp_path, monkeypatch):
    marker = tmp_path / "payload-ran"
    study = tmp_path / "evil.yaml"
    study.write_text(_payload(marker))
    with pytest.raises(StudySpecError) as info:
        study_load.load_spec(study)
    assert not marker.exists()
    assert info.value.problems[0].line == 1

    # The same check with an unsafe loader swapped in: the payload runs, so the check above
    # is one that fails when the loading is unsafe.
    monkeypatch.setattr(study_load, "YAML_LOADER", yaml.UnsafeLoader)
    try:
        study_load.load_spec(study)
    except Exception:
        pass
    assert marker.exists()


#: Raw YAML values that YAML 1.1 reads in surprising ways, each put at a field of a study.
TRICKY_VALUES = [
    "2001-02-30",  # an impossible timestamp: the constructor raises
    "2001-02-03",  # a real date where a number or a name is expected
    "!!timestamp 2001-13-01",
    "1e999",  # a string in YAML 1.1
    "1.0e+999",  # inf
    "-.inf",
    ".nan",
    "0x_ff",
    "0o17",
    "1_000",
    "99999999999999999999999999999",
    "!!binary aGVsbG8=",
    "!!set {a, b}",
    "!!str",
    "~",
    "[" * 300 + "]" * 300,  # nested deeper than a study file allows
    "{a: " * 300 + "1" + "}" * 300,
    "*anchor",  # an alias to the mapping anchored below
    "{<<: *anchor, extra: 1}",  # a merge key
    "[*anchor, *anchor]",
]

FIELDS = [
    ("name: quickstart", "name: {}"),
    ("  d_model: 64", "  d_model: {}"),
    ("  heads: 4 ", "  heads: {} "),
    ("  lr: 2.0e-3", "  lr: {}"),
    ("  seed: 1", "  seed: {}"),
    ("  vocab_size: 500", "  vocab_size: {}"),
    ("  beam_size: 1", "  beam_size: {}"),
    ("  num_samples: 4", "  num_samples: {}"),
    ("objective: {metric: bleu, mode: max}", "objective: {{metric: {}, mode: max}}"),
    ("    model.d_model: {values: [32, 64]}", "    model.d_model: {{values: {}}}"),
    ("resources: {cpu: 1, gpu: 0}", "resources: {{cpu: {}, gpu: 0}}"),
]

ANCHORED = "description: &anchor {x: 1}\n"


def _study_with(field: int, value: str, duplicate: bool) -> str:
    old, new = FIELDS[field]
    assert old in QUICKSTART, old
    text = QUICKSTART.replace(old, new.format(value) + (f"\n{new.format(value)}" if duplicate else ""), 1)
    return ANCHORED + text if "anchor" in value else text


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(FIELDS) - 1), st.sampled_from(TRICKY_VALUES), st.booleans())
def test_every_refusal_names_file_line_and_field(field, value, duplicate):
    text = _study_with(field, value, duplicate)
    spec, problems = study_load.check_spec_text(text, "prop.yaml")
    assert spec is not None or problems
    for problem in problems:
        assert problem.file == "prop.yaml"
        assert problem.line is not None and problem.line >= 1, (text, problem)
        assert problem.path, (text, problem)


@pytest.mark.parametrize(
    "old, new, line, path",
    [
        ("name: quickstart", "name: 2001-02-30", 8, "name"),
        ("  seed: 1", "  seed: !!timestamp 2001-02-30", 31, "train.seed"),
        ("  seed: 1", "  seed: " + "[" * 3000 + "]" * 3000, 31, "train.seed.0"),
    ],
    ids=["impossible-date", "explicit-timestamp", "deep-nesting"],
)
def test_values_yaml_cannot_build_are_located(old, new, line, path):
    with pytest.raises(StudySpecError) as info:
        study_load.load_spec_text(QUICKSTART.replace(old, new), "s.yaml")
    problem = info.value.problems[0]
    assert (problem.line, problem.path) == (line, path), problem
