"""Fixtures of the report/export/predict/ui tests: one real tiny study in one MLflow store.

The store (a fresh SQLite database costs MLflow 4-9 s of migrations) and the study (three
20-step trials on Ray) are made once per session. Tests must not change the real study;
they may add studies of their own with :func:`synthetic_study`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.local_ray import start_local_ray

REAL_STUDY = "tiny-report"
STUDY_YAML = f"""\
name: {REAL_STUDY}
task: {{type: translation, data: "builtin:dates"}}
data: {{train_size: 200, valid_size: 16, test_size: 16, vocab_size: 200}}
model: {{d_model: 32, heads: 2, encoder_layers: 1, decoder_layers: 1, ffn_dim: 64, dropout: 0.0}}
train: {{max_steps: 20, eval_every: 10, warmup_steps: 2, batch_tokens: 512}}
objective: {{metric: chrf, mode: max}}
search:
  method: random
  num_samples: 3
  max_concurrent: 2
  seed: 1
  parameters:
    train.lr: {{distribution: log_uniform, min: 1.0e-3, max: 2.0e-2}}
    model.d_model: {{values: [16, 32]}}
"""


@dataclass
class RealStudy:
    tracking: object  # tfcli.tracking.Tracking
    name: str
    study_id: str
    root: Path
    spec: object  # StudySpec
    yaml_path: Path

    @property
    def uri(self) -> str:
        return self.tracking.uri


@pytest.fixture(scope="session")
def real_study(tmp_path_factory) -> RealStudy:
    """A real study (3 trials of a tiny translation model) run with Ray into a fresh store."""
    import ray

    from tfcli import tracking as tr
    from tfcli.spec.load import load_spec_text
    from tfcli.study.runner import run_study
    from tfcli.train.trainable import train_trial

    root = tmp_path_factory.mktemp("report-store")
    cache = tmp_path_factory.getbasetemp() / "tfcli-cache"
    cache.mkdir(exist_ok=True)
    saved = {k: os.environ.get(k) for k in ("TFCLI_CACHE", "MLFLOW_TRACKING_URI")}
    os.environ["TFCLI_CACHE"] = str(cache)  # Ray workers inherit it
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    yaml_path = root / "study.yaml"
    yaml_path.write_text(STUDY_YAML)
    spec = load_spec_text(STUDY_YAML, str(yaml_path), base_dir=root)
    tracking = tr.check_tracking(tr.resolve_tracking(f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"))
    study_id = "report-test-0001"
    started = not ray.is_initialized()
    if started:
        start_local_ray()
    try:
        callback = tr.MlflowStudyCallback(tracking, spec, study_id, study_file=None)
        outcome = run_study(spec, train_trial, storage=str(root / "ray"), callbacks=[callback], study_id=study_id)
        assert outcome.finished == 3, outcome
    finally:
        if started:
            ray.shutdown()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return RealStudy(tracking=tracking, name=REAL_STUDY, study_id=study_id, root=root, spec=spec, yaml_path=yaml_path)


def synthetic_study(tracking, name: str, trials: list[dict], *, objective: str = "bleu", mode: str = "max", task: str = "translation", spec_json: str | None = None) -> str:
    """A study written straight into the store (no Ray, no artifacts); returns its study id.

    Each trial: ``{"status": "FINISHED", "config": {...}, "history": {"bleu": [(step, v), ...]},
    "objective_value": v, "objective_step": s, "error": "..."}`` (all optional but status).
    """
    import json

    from mlflow.entities import Metric

    from tfcli import tracking as tr

    client = tracking.client()
    experiment_id = tr.ensure_experiment(tracking, name, client)
    study_id = f"{name}-id"
    tags = {
        tr.TAG_STUDY_ID: study_id,
        tr.TAG_STUDY_NAME: name,
        tr.TAG_ROLE: tr.ROLE_STUDY,
        tr.TAG_TASK: task,
        tr.TAG_OBJECTIVE_METRIC: objective,
        tr.TAG_OBJECTIVE_MODE: mode,
    }
    if spec_json:
        tags[tr.TAG_SPEC] = spec_json
    parent = client.create_run(experiment_id, run_name=name, tags=tags).info.run_id
    for n, trial in enumerate(trials):
        config = trial.get("config", {})
        child_tags = {
            tr.TAG_PARENT_RUN: parent,
            tr.TAG_STUDY_ID: study_id,
            tr.TAG_STUDY_NAME: name,
            tr.TAG_ROLE: tr.ROLE_TRIAL,
            tr.TAG_TRIAL_ID: f"syn_{n:05d}",
            tr.TAG_CONFIG: json.dumps(config),
            tr.TAG_OBJECTIVE_METRIC: objective,
            tr.TAG_OBJECTIVE_MODE: mode,
        }
        for key, value in (("objective_value", tr.TAG_OBJECTIVE_VALUE), ("objective_step", tr.TAG_OBJECTIVE_STEP), ("error", tr.TAG_ERROR)):
            if trial.get(key) is not None:
                child_tags[value] = repr(trial[key]) if key == "objective_value" else str(trial[key])
        run_id = client.create_run(experiment_id, run_name=f"syn_{n:05d}", start_time=1_700_000_000_000 + n * 1000, tags=child_tags).info.run_id
        for key, value in config.items():
            client.log_param(run_id, key, value)
        metrics = [Metric(k, float(v), 1_700_000_000_000 + s, s) for k, points in trial.get("history", {}).items() for s, v in points]
        last = max((s for points in trial.get("history", {}).values() for s, _ in points), default=None)
        client.log_batch(run_id, metrics=metrics)
        if last is not None:
            client.set_tag(run_id, tr.TAG_LAST_STEP, str(last))
        status = trial.get("status", "FINISHED")
        if status != "RUNNING":
            client.set_terminated(run_id, status, end_time=1_700_000_000_000 + n * 1000 + 5000)
    client.set_terminated(parent, "FINISHED")
    return study_id
