"""Fixtures of the study tests: one embedded Ray for the whole session, and small specs."""

from __future__ import annotations

import pytest

from tfcli.spec.schema import StudySpec


def make_spec(tmp_path=None, **sections) -> StudySpec:
    """A tiny translation study: 40 steps, an evaluation every 10, objective bleu (max)."""
    data = {
        "name": "tiny",
        "task": {"type": "translation", "data": "builtin:dates"},
        "train": {"max_steps": 40, "eval_every": 10, "lr": 1e-3},
        "search": {"method": "random", "num_samples": 4, "max_concurrent": 2, "seed": 7},
        "resources": {"cpu": 1, "gpu": 0},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    spec = StudySpec.model_validate(data)
    if tmp_path is not None:
        spec = spec.located(str(tmp_path))
    return spec


@pytest.fixture(scope="package")
def ray_session():
    """Ray with 2 CPUs, shared by the study tests.

    Package scope, so that other test modules can start their own Ray after these.
    """
    import ray
    from ray import cloudpickle

    from tests.local_ray import start_local_ray
    from tests.study import fakes

    # Workers cannot import the test package; ship the fake trainables by value.
    cloudpickle.register_pickle_by_value(fakes)
    if ray.is_initialized():  # someone else's Ray: use it, and leave it to them
        yield ray
        return
    start_local_ray()
    yield ray
    ray.shutdown()
