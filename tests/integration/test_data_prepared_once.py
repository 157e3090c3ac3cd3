"""Issue 27, acceptance 3, in a real study: the second trial of a study on data files takes the
first trial's encoded data instead of reading and encoding the files again.

The files are overwritten with text tfcli cannot read (no tab, so every line is a DataError)
once the first trial has evaluated, keeping their size, modification time and inode, which is
what the cache keys them by. A second trial that read the files would fail; one that takes the
encoded data finishes."""

from __future__ import annotations

import os

import pytest

from tests.integration.conftest import store_client, study_runs
from tests.integration.test_interrupts import children_with, spawn, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

STUDY = """\
name: once
task: {type: classification, data: {train: data/train.tsv, valid: data/valid.tsv, test: data/test.tsv}}
model: {d_model: 16, heads: 2, encoder_layers: 1, ffn_dim: 32}
train: {batch_tokens: 512, max_steps: 60, eval_every: 10}  # the files change while the first trial still runs
data: {vocab_size: 100}
search: {num_samples: 2, max_concurrent: 1, parameters: {train.lr: {values: [0.003, 0.002]}}}
scheduler: {type: fifo}
report: {test_top: 0}
"""


def _unreadable_in_place(path) -> None:
    """The same size, modification time and inode; no line tfcli can read."""
    stat = path.stat()
    with open(path, "r+b") as f:
        f.write(b"x" * stat.st_size)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns, path.stat().st_ino) == (stat.st_size, stat.st_mtime_ns, stat.st_ino)


def test_the_second_trial_takes_the_first_trials_encoded_data(project):
    data = project / "data"
    data.mkdir()
    for split, n in (("train", 60), ("valid", 8), ("test", 8)):
        (data / f"{split}.tsv").write_text("".join(f"{split} sentence number {i}\t{'ab'[i % 2]}\n" for i in range(n)))
        os.utime(data / f"{split}.tsv", (1_700_000_000, 1_700_000_000))  # written well before the study
    (project / "once.yaml").write_text(STUDY)
    client = store_client(project)

    proc = spawn(project, "study", "start", "once.yaml", "--no-baselines")
    try:
        def first_trial_evaluated():
            return any(client.get_metric_history(c.info.run_id, "accuracy") for c in children_with(project, "once", "RUNNING") + children_with(project, "once", "FINISHED"))

        assert wait_for(first_trial_evaluated, 240, proc, every=0.3), "the first trial never evaluated"
        for split in ("train", "valid", "test"):
            _unreadable_in_place(data / f"{split}.tsv")
        output, _ = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
    assert proc.returncode == 0, output
    _, children = study_runs(project, "once")
    assert len(children) == 2 and all(c.info.status == "FINISHED" for c in children), output
    assert all(client.get_metric_history(c.info.run_id, "accuracy") for c in children)
