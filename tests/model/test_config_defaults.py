"""TransformerConfig takes its defaults from the study file's ``model:`` section, and
``parameter_count`` counts a configuration without torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tfcli.model.config import TransformerConfig, parameter_count
from tfcli.spec.schema import ModelSpec

pytestmark = pytest.mark.timeout(60)


def test_defaults_are_the_study_files():
    assert TransformerConfig(vocab_size=50) == TransformerConfig.from_dict({**ModelSpec().model_dump(), "vocab_size": 50})


@pytest.mark.parametrize("kind", ["seq2seq", "classifier", "span"])
def test_a_count_of_a_partial_config_uses_the_same_defaults(kind):
    full = TransformerConfig(vocab_size=50, kind=kind).to_dict()
    partial = {k: full[k] for k in ("vocab_size", "kind", "d_model", "ffn_dim", "encoder_layers", "decoder_layers")}
    assert parameter_count(partial) == parameter_count(full) is not None


def test_parameter_count_needs_no_torch():
    code = (
        "import sys\n"
        "from tfcli.model.config import TransformerConfig, parameter_count\n"
        "assert parameter_count(TransformerConfig(vocab_size=50).to_dict()) > 0\n"
        "assert 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
