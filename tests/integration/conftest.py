"""Real studies: a real Ray runtime, the real trainable and a real MLflow store."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.local_ray import start_local_ray

TINY_STUDY = """\
name: {name}
task: {{type: {task}, data: 'builtin:{data}'}}
model: {{d_model: 32, heads: 2, encoder_layers: 1, decoder_layers: 1, ffn_dim: 64}}
train: {{lr: 3.0e-3, warmup_steps: 5, batch_tokens: 1024, max_steps: {steps}, eval_every: 10{train_extra}}}
data: {{vocab_size: 200, train_size: 200, valid_size: 16, test_size: 16{data_extra}}}
search:
  method: {method}
  num_samples: {samples}
  max_concurrent: 2
  seed: 5
  parameters:
{parameters}
scheduler: {scheduler}
budget: {{max_failures: {failures}}}
report: {{test_top: {test_top}}}
"""

RANDOM_PARAMETERS = """\
    train.lr: {distribution: log_uniform, min: 1.0e-3, max: 1.0e-2}
    model.d_model: {values: [16, 32]}"""


def study_text(name: str, *, task="translation", data="dates", method="random", samples=4, steps=20,
               parameters=RANDOM_PARAMETERS, scheduler="{type: asha, grace_period: 10, reduction_factor: 2}",
               failures=0, train_extra="", data_extra="", test_top=0) -> str:
    """A tiny study; ``test_top`` 0 skips the held-out test scores at its end (seconds per
    study that only the tests of that feature need)."""
    return TINY_STUDY.format(
        name=name, task=task, data=data, method=method, samples=samples, steps=steps, parameters=parameters,
        scheduler=scheduler, failures=failures, train_extra=train_extra, data_extra=data_extra, test_top=test_top,
    )


@pytest.fixture(scope="session")
def empty_store_db(tmp_path_factory) -> Path:
    """A migrated, empty MLflow SQLite store (migrations cost seconds; copy it instead)."""
    from tfcli.tracking import check_tracking, resolve_tracking

    root = tmp_path_factory.mktemp("store-template") / "mlruns"
    check_tracking(resolve_tracking(f"sqlite:///{root}/mlflow.db"))
    return root / "mlflow.db"


@pytest.fixture
def project(tmp_path, empty_store_db, monkeypatch):
    """A project folder with a fresh ./mlruns store; commands run from it."""
    (tmp_path / "mlruns").mkdir()
    shutil.copy(empty_store_db, tmp_path / "mlruns" / "mlflow.db")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


@pytest.fixture(scope="module")
def ray_session():
    import ray

    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    start_local_ray(ignore_reinit_error=True)
    yield ray
    ray.shutdown()


def store_client(project: Path):
    from tfcli.tracking import resolve_tracking

    return resolve_tracking(None, cwd=project).client()


def study_runs(project: Path, name: str):
    """(parent runs, child runs) of study ``name`` in the project's store."""
    client = store_client(project)
    experiment = client.get_experiment_by_name(name)
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    parents = [r for r in runs if r.data.tags.get("tfcli.role") == "study"]
    children = [r for r in runs if r.data.tags.get("tfcli.role") == "trial"]
    return parents, children
