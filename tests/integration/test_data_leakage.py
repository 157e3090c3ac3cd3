"""Issue 27, acceptance 1: a study on data files whose test split shares examples with train
(one exact, one up to case and whitespace) logs the leak on its parent run when it starts, and
its report warns of it (real Ray, real MLflow; one tiny trial)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.conftest import store_client, study_runs
from tests.integration.test_crash_windows import tfcli

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

STUDY = """\
name: leaky
task: {type: classification, data: {train: data/train.tsv, valid: data/valid.tsv, test: data/test.tsv}}
model: {d_model: 16, heads: 2, encoder_layers: 1, ffn_dim: 32}
train: {batch_tokens: 512, max_steps: 20, eval_every: 10}
data: {vocab_size: 100}
search: {num_samples: 1, parameters: {train.lr: {values: [0.003]}}}
report: {test_top: 0}
"""


def test_the_report_of_a_study_on_leaky_data_warns(project):
    train = [f"sentence {i} of the training data\t{'a' if i % 2 else 'b'}" for i in range(40)]
    train[6] = "Planted Exact Line\ta"  # line 7
    train[11] = "planted   loose line\tb"  # line 12
    (project / "data").mkdir()
    (project / "data" / "train.tsv").write_text("\n".join(train) + "\n")
    (project / "data" / "valid.tsv").write_text("".join(f"held out {i}\ta\n" for i in range(6)))
    (project / "data" / "test.tsv").write_text("unseen test\tb\nPlanted Exact Line\tb\nPLANTED loose LINE\ta\n")
    (project / "leaky.yaml").write_text(STUDY)

    started = tfcli(project, "study", "start", "leaky.yaml", "--no-baselines")
    assert started.returncode == 0, started.stdout + started.stderr
    parent = study_runs(project, "leaky")[0][0]
    assert parent.data.metrics["data/leakage/test/exact"] == 1 and parent.data.metrics["data/leakage/test/normalised"] == 1
    assert parent.data.metrics["data/leakage/valid/exact"] == 0 and parent.data.metrics["data/train/examples"] == 40
    artifact = store_client(project).download_artifacts(parent.info.run_id, "data_profile.json", str(project))
    summary = json.loads(Path(artifact).read_text())
    assert [(p["at"].rsplit("/", 1)[-1], p["first"].rsplit("/", 1)[-1]) for p in summary["pairs"]] == [("test.tsv:2", "train.tsv:7"), ("test.tsv:3", "train.tsv:12")]

    report = tfcli(project, "report", "leaky", "--format", "json")
    assert report.returncode == 0, report.stderr
    warnings = json.loads(report.stdout)["warnings"]
    assert any("test shares 2 examples with train (1 exact, 1 normalised)" in w for w in warnings), warnings
    assert not any("valid shares" in w for w in warnings), warnings
    table = tfcli(project, "report", "leaky")
    assert "Warning: test shares 2 examples with train" in table.stdout, table.stdout
