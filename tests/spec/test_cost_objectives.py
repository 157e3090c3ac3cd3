"""The cost metrics every evaluation logs are objectives of any task, lower-is-better but for throughput."""

from __future__ import annotations

import pytest

from tfcli.errors import StudySpecError
from tfcli.spec.load import load_spec_text
from tfcli.spec.tasks import COST_METRICS

STUDY = "name: cost\ntask: {type: classification, data: 'builtin:sentiment'}\nobjective: {metric: %s}\n"


@pytest.mark.parametrize("metric", COST_METRICS)
def test_every_cost_metric_is_an_objective_with_its_direction(metric):
    spec = load_spec_text(STUDY % metric, "cost.yaml")
    assert spec.primary_objective.metric == metric
    assert spec.primary_objective.mode == ("max" if metric == "tokens_per_s" else "min")


def test_an_unknown_metric_is_still_refused_with_the_costs_listed():
    with pytest.raises(StudySpecError, match=r"cost.yaml:3.*'decode_ms'.*did you mean 'decode_ms_per_example'"):
        load_spec_text(STUDY % "decode_ms", "cost.yaml")
