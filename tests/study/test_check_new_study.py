"""The pre-flight checks of a new study live in the library (``check_new_study``): in order,
hyperband's lockstep, the data files, the store, the name; none writes anything."""

from __future__ import annotations

import pytest

from tfcli.errors import DataError, StudyError
from tfcli.spec.load import load_spec
from tfcli.study.lifecycle import check_new_study
from tfcli.tracking import resolve_tracking
from tfcli.tracking.claims import create_study_run

pytestmark = pytest.mark.timeout(120)

STUDY = """\
name: preflight
task: {{type: translation, data: {data}}}
model: {{d_model: 16, heads: 2, encoder_layers: 1, decoder_layers: 1, ffn_dim: 32}}
train: {{max_steps: 10, eval_every: 5}}
search: {{num_samples: 4, max_concurrent: 4, parameters: {{train.lr: {{values: [0.001, 0.002]}}}}}}
scheduler: {{type: {scheduler}}}
"""


def _spec(tmp_path, data="'builtin:dates'", scheduler="fifo"):
    path = tmp_path / "s.yaml"
    path.write_text(STUDY.format(data=data, scheduler=scheduler))
    return load_spec(path)


def test_bad_data_is_refused_before_the_store_is_opened(tmp_path):
    (tmp_path / "train.tsv").write_text("no tab here\n")
    store = tmp_path / "mlruns"
    with pytest.raises(DataError, match="train.tsv:1"):
        check_new_study(_spec(tmp_path, data="{train: train.tsv}"), f"sqlite:///{store}/mlflow.db")
    assert not store.exists()


def test_hyperband_in_lockstep_is_refused_first(tmp_path):
    (tmp_path / "train.tsv").write_text("no tab here\n")
    spec = _spec(tmp_path, data="{train: train.tsv}", scheduler="hyperband")
    with pytest.raises(StudyError, match="--max-concurrent 2: hyperband"):
        check_new_study(spec, f"sqlite:///{tmp_path}/mlruns/mlflow.db", max_concurrent=2)


def test_a_name_the_store_holds_is_refused_and_a_new_one_returns_the_store(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    spec = _spec(tmp_path).with_search_seed()
    tracking = check_new_study(spec, uri)
    assert tracking.uri == resolve_tracking(uri).uri
    create_study_run(tracking, spec, "sid", {})
    with pytest.raises(StudyError, match="already exists"):
        check_new_study(spec, uri)
