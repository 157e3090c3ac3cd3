"""Issue 16, defect 1: a study whose space can produce a model that cannot be built must not
validate. Every value a searched ``model.d_model``/``model.heads``/``model.positional`` can
take is enumerated (all distributions), and every accepted spec's sampled configurations
build a TransformerConfig."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tfcli.errors import StudySpecError
from tfcli.spec.load import check_spec_text, load_spec_text
from tfcli.spec.rules import param_values
from tfcli.spec.schema import ParamSpec

pytestmark = pytest.mark.timeout(300)

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = (REPO / "studies" / "quickstart.yaml").read_text()
D_MODEL_LINE = "    model.d_model: {values: [32, 64]}"


def study(heads: str = "4", parameters: str = "") -> str:
    text = QUICKSTART.replace("  heads: 4 ", f"  heads: {heads} ", 1)
    assert D_MODEL_LINE in text
    return text.replace(D_MODEL_LINE, parameters or D_MODEL_LINE)


@pytest.mark.parametrize(
    "heads, parameters, field",
    [
        ("3", "    model.d_model: {distribution: q_log_uniform, min: 32, max: 64, q: 8}", "search.parameters.model.d_model"),
        ("3", "    model.d_model: {distribution: q_uniform, min: 32, max: 64, q: 16}", "search.parameters.model.d_model"),
        ("5", "    model.d_model: {distribution: int_uniform, min: 30, max: 40}", "search.parameters.model.d_model"),
        ("4", "    model.heads: {distribution: int_uniform, min: 2, max: 5}", "search.parameters.model.heads"),
        ("4", "    model.heads: {distribution: q_log_uniform, min: 2, max: 6, q: 2}", "search.parameters.model.heads"),
        ("4", "    model.heads: {values: [2, 3]}", "search.parameters.model.heads"),
    ],
    ids=["q_log_uniform-d_model", "q_uniform-d_model", "int_uniform-d_model", "int_uniform-heads", "q_log_uniform-heads", "values-heads"],
)
def test_heads_that_do_not_divide_some_d_model_are_refused(heads, parameters, field):
    spec, problems = check_spec_text(study(heads, parameters), "s.yaml")
    assert spec is None
    assert any(p.path == field and "heads must divide d_model" in p.message and p.line for p in problems), problems


def test_rotary_needs_an_even_head_size_for_every_value():
    text = study("4", "    model.d_model: {distribution: q_uniform, min: 32, max: 40, q: 4}").replace("positional: sinusoidal", "positional: rotary")
    _, problems = check_spec_text(text, "s.yaml")  # d_model 36 with 4 heads: head size 9
    assert any("even head size" in p.message and "d_model=36" in p.message for p in problems), problems


def test_q_log_uniform_values_are_the_multiples_of_q_in_range():
    param = ParamSpec(distribution="q_log_uniform", min=30, max=64, q=8)
    assert param_values(param, "int") == [32, 40, 48, 56, 64]
    assert param_values(ParamSpec(distribution="q_log_uniform", min=0, max=8, q=4), "int") == [4, 8]


def test_a_space_that_always_builds_is_accepted():
    load_spec_text(study("4", "    model.d_model: {distribution: q_log_uniform, min: 32, max: 64, q: 8}"), "s.yaml")


SPACES = st.sampled_from([
    "    model.d_model: {distribution: q_log_uniform, min: 16, max: 96, q: 8}",
    "    model.d_model: {distribution: q_uniform, min: 16, max: 96, q: 4}",
    "    model.d_model: {distribution: int_uniform, min: 16, max: 24}",
    "    model.d_model: {values: [24, 32, 48]}",
    "    model.heads: {distribution: int_uniform, min: 1, max: 8}",
    "    model.heads: {values: [1, 2, 3, 4, 6]}",
    "    model.heads: {distribution: q_log_uniform, min: 1, max: 8, q: 2}",
])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(SPACES, st.sampled_from(["1", "2", "3", "4", "8"]), st.sampled_from(["sinusoidal", "rotary"]), st.sampled_from(["random", "tpe", "grid"]))
def test_every_accepted_space_samples_configurations_that_build(space, heads, positional, method):
    from tfcli.model.config import TransformerConfig
    from tfcli.study.space import describe_trials

    text = study(heads, space).replace("positional: sinusoidal", f"positional: {positional}").replace("method: random ", f"method: {method} ")
    try:
        spec = load_spec_text(text, "s.yaml")
    except StudySpecError:
        return
    for config in describe_trials(spec, 50):
        trial = spec.with_overrides({k: v for k, v in config.items() if k.startswith("model.")})
        TransformerConfig.from_dict({"vocab_size": 100, **trial.model.model_dump()})
