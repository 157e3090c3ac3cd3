"""Fake trainables for the runner tests: no torch, a few quick reports, small checkpoints.

Behaviour is chosen by ``train.seed`` (a searchable field with no meaning here):
``RAISES`` raises every time, ``DIVERGES`` raises DivergedError after two reports,
``FLAKY`` raises once after two reports and then resumes from its checkpoint. Markers under
the study's base folder (``study["base_dir"]``) record what each attempt did.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
import uuid

RAISES = 666
DIVERGES = 777
FLAKY = 888


def score(config: dict, step: int, max_steps: int) -> float:
    """A bleu-like objective: best for lr near 1e-3, growing with steps."""
    lr = config.get("train.lr", 1e-3)
    closeness = max(0.0, 1.0 - abs(math.log10(lr) + 3.0) / 3.0)
    return round(100.0 * closeness * step / max_steps, 6)


def _mark(study: dict, kind: str, config: dict, **extra) -> None:
    base = study.get("base_dir")
    if not base:
        return
    folder = os.path.join(base, "marks")
    os.makedirs(folder, exist_ok=True)
    record = {"kind": kind, "seed": config.get("train.seed"), "lr": config.get("train.lr"), **extra}
    with open(os.path.join(folder, f"{kind}-{uuid.uuid4().hex}.json"), "w") as f:
        json.dump(record, f)


def _delay(study: dict) -> float:
    """Seconds per evaluation: the study folder's ``delay`` file, else 0.15."""
    path = os.path.join(study.get("base_dir") or "", "delay")
    if study.get("base_dir") and os.path.exists(path):
        with open(path) as f:
            return float(f.read().strip())
    return 0.15


def _lockstep(study: dict, step: int, timeout_s: float = 3.0) -> None:
    """With a ``lockstep`` file (a group size) in the study folder, trials report each step
    in groups: each waits until its group has reached the step, so their results reach the
    driver together."""
    base = study.get("base_dir")
    path = os.path.join(base or "", "lockstep")
    if not base or not os.path.exists(path):
        return
    with open(path) as f:
        group = int(f.read().strip())
    folder = os.path.join(base, "lockstep-steps", str(step))
    os.makedirs(folder, exist_ok=True)
    open(os.path.join(folder, uuid.uuid4().hex), "w").close()
    position = len(os.listdir(folder))
    wanted = -(-position // group) * group
    deadline = time.monotonic() + timeout_s
    while len(os.listdir(folder)) < wanted and time.monotonic() < deadline:
        time.sleep(0.002)


def fake_trainable(config: dict, study: dict) -> None:
    from ray import tune

    from tfcli.errors import DivergedError

    spec = study["spec"]
    max_steps = config.get("train.max_steps", spec["train"]["max_steps"])
    every = config.get("train.eval_every", spec["train"]["eval_every"])
    metric = spec["objective"]["metric"]
    delay = _delay(study)
    seed = config.get("train.seed")

    start = 0
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            with open(os.path.join(folder, "state.json")) as f:
                start = json.load(f)["step"]
    _mark(study, "start", config, resumed_from=start)

    step = start
    while step < max_steps:
        step = min(step + every, max_steps)
        time.sleep(delay)
        if seed == RAISES:
            raise RuntimeError("this configuration always fails")
        if seed == DIVERGES and step > 2 * every:
            raise DivergedError(f"loss is nan at step {step}")
        if seed == FLAKY and step > 2 * every and start == 0:
            raise RuntimeError("a flaky failure")
        _lockstep(study, step)
        with tempfile.TemporaryDirectory() as folder:
            with open(os.path.join(folder, "state.json"), "w") as f:
                json.dump({"step": step, "config": config}, f)
            tune.report(
                {"step": step, metric: score(config, step, max_steps), "loss": 1.0 / step},
                checkpoint=tune.Checkpoint.from_directory(folder),
            )
    _mark(study, "end", config, step=step)


def marks(base_dir, kind: str | None = None) -> list[dict]:
    folder = os.path.join(str(base_dir), "marks")
    if not os.path.isdir(folder):
        return []
    out = []
    for name in sorted(os.listdir(folder)):
        if kind is None or name.startswith(kind + "-"):
            with open(os.path.join(folder, name)) as f:
                out.append(json.load(f))
    return out


def checkpoints_then_dies(config: dict) -> None:
    """Reports ``steps`` results with a checkpoint each; the first attempt raises after
    ``die_after`` of them (``config["marker"]`` records that it did). Each result says the
    step the attempt started from (0: from the start)."""
    from ray import tune

    checkpoint = tune.get_checkpoint()
    start = 0
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            with open(os.path.join(folder, "state.json")) as f:
                start = json.load(f)["step"]
    first_attempt = not os.path.exists(config["marker"])
    for step in range(start + 1, config["steps"] + 1):
        if first_attempt and step > config["die_after"]:
            open(config["marker"], "w").close()
            raise RuntimeError("the driver would have been killed here")
        with tempfile.TemporaryDirectory() as folder:
            with open(os.path.join(folder, "state.json"), "w") as f:
                json.dump({"step": step}, f)
            tune.report({"step": step, "started_from": start}, checkpoint=tune.Checkpoint.from_directory(folder))
