"""The metric options of `tfcli score` are `eval:` fields of a study, with the same defaults."""

from __future__ import annotations

from dataclasses import fields

import pytest

from tfcli.errors import StudySpecError
from tfcli.metrics import MetricSettings
from tfcli.spec.load import load_spec_text
from tfcli.spec.schema import EvalSpec

STUDY = "name: opts\ntask: {type: qa, data: 'builtin:facts'}\neval:\n  qa_rules: %s\n  chrf_word_order: 2\n"


def test_every_metric_setting_is_an_eval_field_with_the_same_default():
    settings = MetricSettings()
    for f in fields(MetricSettings):
        if f.name == "bootstrap_seed":  # the report's, not the study's
            continue
        assert f.name in EvalSpec.model_fields, f.name
        assert EvalSpec.model_fields[f.name].default == getattr(settings, f.name), f.name


def test_a_study_sets_them_and_a_trial_computes_with_them():
    spec = load_spec_text(STUDY % "squad_v2", "opts.yaml")
    settings = MetricSettings.from_eval(spec.eval)
    assert settings.qa_rules == "squad_v2" and settings.chrf_word_order == 2


def test_a_bad_option_names_its_line():
    with pytest.raises(StudySpecError, match=r"opts.yaml:4.*qa_rules"):
        load_spec_text(STUDY % "squad_v3", "opts.yaml")
