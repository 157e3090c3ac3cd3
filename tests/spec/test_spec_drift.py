"""The fields in which a study file differs from the spec stored with its study."""

from __future__ import annotations

import json

from tfcli.spec.drift import changed_fields
from tfcli.spec.load import load_spec_text
from tfcli.spec.schema import StudySpec

TEXT = """\
name: d
task: {type: translation, data: 'builtin:dates'}
train: {lr: 3.0e-3, max_steps: 20, eval_every: 10}
search:
  method: random
  num_samples: 2
  parameters:
    model.d_model: {values: [16, 32]}
"""


def stored(text: str) -> StudySpec:
    spec = load_spec_text(text).with_search_seed()
    return StudySpec.model_validate(json.loads(spec.model_dump_json()))


def test_an_unchanged_file_differs_in_nothing_even_with_a_drawn_seed():
    assert changed_fields(stored(TEXT), load_spec_text(TEXT)) == []


def test_edited_fields_are_named_by_their_dotted_paths():
    edited = TEXT.replace("lr: 3.0e-3", "lr: 1.0e-3").replace("[16, 32]", "[16, 64]")
    assert changed_fields(stored(TEXT), load_spec_text(edited)) == ["search.parameters.model.d_model.values", "train.lr"]


def test_a_seed_written_into_the_file_is_a_change():
    assert changed_fields(stored(TEXT), load_spec_text(TEXT.replace("num_samples: 2", "num_samples: 2\n  seed: 7"))) == ["search.seed"]
