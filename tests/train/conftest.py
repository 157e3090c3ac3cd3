"""Tiny study specs that train in seconds on a CPU."""

from __future__ import annotations

import pytest
import torch

from tfcli.spec.load import load_spec_text

TINY = {
    "translation": ("builtin:dates", "bleu"),
    "summarization": ("builtin:headlines", "rougeL"),
    "classification": ("builtin:sentiment", "accuracy"),
    "qa": ("builtin:facts", "f1"),
}


def tiny_spec_text(task: str = "translation", **sections: str) -> str:
    data, metric = TINY[task]
    base = {
        "model": "{d_model: 32, heads: 2, encoder_layers: 1, decoder_layers: 1, ffn_dim: 64, dropout: 0.1}",
        "train": "{lr: 3.0e-3, warmup_steps: 5, batch_tokens: 1024, max_steps: 20, eval_every: 10, seed: 3}",
        "data": "{vocab_size: 200, train_size: 200, valid_size: 16, test_size: 16, max_source_length: 96, max_target_length: 32}",
        "eval": "{batch_size: 16}",
    }
    base.update(sections)
    body = "\n".join(f"{key}: {value}" for key, value in base.items())
    return f"name: tiny-{task}\ntask: {{type: {task}, data: '{data}'}}\n{body}\nobjective: {{metric: {metric}}}\n"


@pytest.fixture
def tiny_spec():
    def make(task: str = "translation", **sections: str):
        return load_spec_text(tiny_spec_text(task, **sections), "tiny.yaml")

    return make


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
