"""The training loop: plain PyTorch, no Ray, no MLflow.

``Trainer`` knows nothing of logging or tuning: callers hook in through :class:`TrainCallback`
(the Rich progress of ``tfcli train``, the Ray Tune adapter of a study). A callback's
``on_evaluation`` returning True stops the run (a scheduler's early stop).
"""

from __future__ import annotations

import json
import math
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tfcli.data.prefetch import Prefetcher
from tfcli.errors import DivergedError
from tfcli.records import Evidence, TrialState, decide_state
from tfcli.records.state import STOPPED_BY_SCHEDULER
from tfcli.spec.objective import TIE_BREAK_METRIC, primary_objective
from tfcli.spec.results import MAX_TIME_KEY, reached_end
from tfcli.spec.schema import StudySpec, parse_duration
from tfcli.train.checkpoint import METRICS_FILE, load_trainer_state, load_weights, save_checkpoint
from tfcli.train.costs import peak_memory_mb
from tfcli.train.device import Hardware, choose_placement
from tfcli.train.prepare import prepare
from tfcli.train.schedule import lr_factor
from tfcli.train.step import StepRunner, make_optimizer
from tfcli.train.task_runtime import runtime_for


@dataclass
class Evaluation:
    """One evaluation on the validation split, and the checkpoint written with it."""

    step: int
    metrics: dict[str, float]
    checkpoint: Path
    is_best: bool
    elapsed_s: float
    train_points: list[tuple[int, float]] = field(default_factory=list)  # train.log_every points since the last one


@dataclass
class TrainResult:
    steps: int
    best: Evaluation | None
    last: Evaluation | None
    test_metrics: dict[str, float] = field(default_factory=dict)
    stopped_early: bool = False
    max_time_reached: bool = False
    parameters: int = 0
    truncated: dict[str, int] = field(default_factory=dict)


def _state(step: int, max_steps: int, stopped: bool) -> TrialState:
    """How a run of :meth:`Trainer.fit` ended: a callback's stop short of ``max_steps`` is ``stopped``."""
    return decide_state(Evidence(reached_end=reached_end(step, max_steps), stopped_by=STOPPED_BY_SCHEDULER if stopped else None))


class TrainCallback(Protocol):
    def on_start(self, trainer: "Trainer") -> None: ...

    def on_step(self, step: int, loss: float, tokens_per_s: float, lr: float) -> None: ...

    def on_evaluation(self, evaluation: Evaluation) -> bool | None: ...


class Trainer:
    """Trains one configuration of a study: ``Trainer(spec, workdir).fit()``."""

    def __init__(
        self,
        spec: StudySpec,
        workdir: str | Path,
        *,
        callbacks: list | None = None,
        resume_from: str | Path | None = None,
        keep_checkpoints: int = 1,
        evaluate_test: bool = False,
        hardware=None,
    ):
        import torch

        self.spec = spec
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.callbacks = list(callbacks or [])
        self.keep_checkpoints = keep_checkpoints
        self.evaluate_test = evaluate_test
        self.placement = choose_placement(
            spec.train.device, spec.train.precision, hardware or Hardware.detect(), d_model=spec.model.d_model
        )

        torch.manual_seed(spec.train.seed)
        random.seed(spec.train.seed)
        self.data = prepare(spec)
        self.task = runtime_for(spec, self.data)
        self.model = self.task.build_model().to(self.placement.device)
        self.parameters = self.task.parameter_count(self.model)
        if spec.train.compile:
            self.model = torch.compile(self.model)
        t = spec.train
        self.optimizer = make_optimizer(
            self.model, lr=t.lr, weight_decay=t.weight_decay, betas=(t.adam_beta1, t.adam_beta2), device=self.placement.device
        )
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.placement.needs_grad_scaler)
        self.runner = StepRunner(
            self.model,
            self.optimizer,
            self.placement,
            loss_fn=lambda model, batch: self.task.loss(model, batch, t.label_smoothing),
            n_targets=self.task.n_targets,
            n_tokens=self.task.n_real_tokens,
            grad_clip=t.grad_clip,
            scaler=self.scaler,
        )
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.best: Evaluation | None = None
        self.evaluations: list[Evaluation] = []
        self.elapsed_before = 0.0  # wall time of the runs this one resumes
        self.train_time_s = 0.0  # time in training steps (evaluations not counted), resumes included
        self._stream = None  # the Prefetcher of training batches, started by the first step
        if resume_from is not None:
            self._restore(Path(resume_from))

    # ----------------------------------------------------------------------------- data order
    def _batches_of_epoch(self, epoch: int) -> list[list[int]]:
        from tfcli.data.batching import bucket_batches

        return bucket_batches(
            self.task.lengths("train"),
            self.spec.train.batch_tokens,
            shuffle=True,
            seed=self.spec.train.seed * 100003 + epoch,
            within=self.task.within_bucket_order("train"),
        )

    def _batch_plan(self, epoch: int, position: int):
        """(epoch, batches of it consumed after this one, indices), from a resume point on.

        The order is a pure function of the seed and the epoch, so the background thread can
        walk it ahead while ``self.epoch``/``self.batch_in_epoch`` (what a checkpoint saves)
        follow the batches the loop has actually consumed.
        """
        while True:
            batches = self._batches_of_epoch(epoch)
            for index in range(position, len(batches)):
                yield epoch, index + 1, batches[index]
            epoch, position = epoch + 1, 0

    def _next_batch(self):
        """The next collated training batch, collated ahead in a background thread."""
        if self._stream is None:
            plan = self._batch_plan(self.epoch, self.batch_in_epoch)
            self._stream = Prefetcher((e, p, self.task.collate("train", ix)) for e, p, ix in plan)
        self.epoch, self.batch_in_epoch, batch = next(self._stream)
        return batch

    def _close_stream(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    # ------------------------------------------------------------------------------ training
    def _set_lr(self) -> float:
        t = self.spec.train
        lr = t.lr * lr_factor(t.schedule, self.step + 1, t.warmup_steps, t.max_steps)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def _train_step(self) -> tuple[float, int]:
        """One optimizer step over ``grad_accum`` batches; returns (mean loss, real tokens)."""
        lr = self._set_lr()
        batches = [self._next_batch().to(self.placement.device) for _ in range(self.spec.train.grad_accum)]
        outcome = self.runner(batches)
        mean = outcome.mean_loss
        if not math.isfinite(mean):
            raise DivergedError(
                f"training diverged at step {self.step + 1}: the loss is {mean}; lower train.lr "
                f"(now {lr:.3g}) or raise train.warmup_steps"
            )
        self.step += 1
        self._last_lr = lr
        return mean, outcome.tokens

    def fit(self) -> TrainResult:
        """Train to ``max_steps``, to the ``max_time`` budget, or until a callback stops it.

        ``train_loss`` is the mean over the steps since the previous ``train_loss`` value: a
        ``log_every`` point or an evaluation, so no step has two.
        """
        spec = self.spec
        t = spec.train
        for callback in self.callbacks:
            getattr(callback, "on_start", lambda trainer: None)(self)
        budget = parse_duration(t.max_time) if t.max_time is not None else None
        stopped = out_of_time = False
        window_start, window_tokens = time.perf_counter(), 0
        started = time.perf_counter()
        losses: list[float] = []
        points: list[tuple[int, float]] = []
        try:
            while self.step < t.max_steps and not stopped and not out_of_time:
                step_started = time.perf_counter()
                loss, tokens = self._train_step()
                losses.append(loss)
                window_tokens += tokens
                now = time.perf_counter()
                self.train_time_s += now - step_started
                tokens_per_s = window_tokens / max(now - window_start, 1e-9)
                for callback in self.callbacks:
                    getattr(callback, "on_step", lambda *a: None)(self.step, loss, tokens_per_s, self._last_lr)
                elapsed = self.elapsed_before + now - started
                out_of_time = budget is not None and elapsed >= budget
                if self.step % t.eval_every == 0 or self.step == t.max_steps or out_of_time:
                    extra = {
                        "train_loss": sum(losses) / len(losses),
                        "tokens_per_s": tokens_per_s,
                        "lr": self._last_lr,
                        "epoch": self.epoch,
                    }
                    if out_of_time:
                        extra[MAX_TIME_KEY] = 1.0
                    losses = []
                    evaluation = self.evaluate_and_checkpoint(extra, elapsed, points)
                    points = []
                    for callback in self.callbacks:
                        if getattr(callback, "on_evaluation", lambda e: None)(evaluation):
                            stopped = True
                    window_start, window_tokens = time.perf_counter(), 0
                elif t.log_every is not None and self.step % t.log_every == 0:
                    points.append((self.step, sum(losses) / len(losses)))
                    losses = []
        finally:
            self._close_stream()
        result = TrainResult(
            steps=self.step,
            best=self.best,
            last=self.evaluations[-1] if self.evaluations else None,
            stopped_early=_state(self.step, t.max_steps, stopped) is TrialState.STOPPED,
            max_time_reached=out_of_time,
            parameters=self.parameters,
            truncated=self.data.truncated,
        )
        if self.evaluate_test and self.best is not None:
            result.test_metrics = self.evaluate_split("test", checkpoint=self.best.checkpoint)[0]
        return result

    # ---------------------------------------------------------------------------- evaluation
    def evaluate_split(self, split: str, checkpoint: Path | None = None, limit: int | None = None) -> tuple[dict[str, float], list[dict]]:
        """Metrics and per-example outputs of the model (or of ``checkpoint``) on a split."""
        if checkpoint is not None:
            load_weights(self._bare_model(), checkpoint, device=self.placement.device)
        return self.task.evaluate(self.model, split, self.placement, limit=limit)

    def _bare_model(self):
        return getattr(self.model, "_orig_mod", self.model)

    def evaluate_and_checkpoint(
        self, extra: dict[str, float], elapsed: float, train_points: list[tuple[int, float]] | None = None
    ) -> Evaluation:
        metrics, outputs = self.evaluate_split("valid", limit=self.spec.eval.max_examples)
        costs = {
            "parameters": float(self.parameters),
            "train_time_s": self.train_time_s,
            "peak_memory_mb": peak_memory_mb(self.placement.device),
        }
        metrics = {**metrics, **extra, **costs, "step": self.step, "elapsed_s": elapsed}
        objective = primary_objective(self.spec)
        value = metrics.get(objective.metric)
        is_best = self.best is None or objective.outranks(
            (value, metrics.get(TIE_BREAK_METRIC), self.step),
            (self.best.metrics.get(objective.metric), self.best.metrics.get(TIE_BREAK_METRIC), self.best.step),
        )
        path = self.workdir / f"checkpoint-{self.step:07d}"
        self.save(path, metrics, outputs)
        evaluation = Evaluation(self.step, metrics, path, is_best, elapsed, list(train_points or []))
        self.evaluations.append(evaluation)
        if is_best:
            self.best = evaluation
        self._prune_checkpoints()
        return evaluation

    def _prune_checkpoints(self) -> None:
        keep = {e.checkpoint for e in self.evaluations[-self.keep_checkpoints :]}
        if self.best is not None:
            keep.add(self.best.checkpoint)
        for evaluation in self.evaluations:
            if evaluation.checkpoint not in keep and evaluation.checkpoint.exists():
                shutil.rmtree(evaluation.checkpoint, ignore_errors=True)

    # --------------------------------------------------------------------------- checkpoints
    def checkpoint_config(self) -> dict[str, Any]:
        return {
            "format": "tfcli-checkpoint/1",
            "step": self.step,
            "task": self.spec.task.type,
            "model": self.task.model_config.to_dict(),
            "labels": self.data.labels,
            "study": self.spec.model_dump(mode="json"),
            "placement": {"device": self.placement.device, "precision": self.placement.precision, "reason": self.placement.reason},
        }

    def save(self, path: Path, metrics: dict[str, Any], outputs: list[dict]) -> Path:
        import torch

        state = {
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "best_step": self.best.step if self.best else -1,
            "best_value": float(self.best.metrics.get(self.spec.primary_objective.metric, float("nan"))) if self.best else float("nan"),
        }
        return save_checkpoint(
            path,
            model=self._bare_model(),
            config=self.checkpoint_config(),
            tokenizer=self.data.tokenizer,
            metrics=metrics,
            outputs=outputs,
            trainer_state=state,
        )

    def _restore(self, path: Path) -> None:
        import torch

        load_weights(self._bare_model(), path, device=self.placement.device)
        state = load_trainer_state(path)
        if state is None:
            return
        self.step = int(state["step"])
        self.epoch = int(state["epoch"])
        self.batch_in_epoch = int(state["batch_in_epoch"])
        self._close_stream()
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["torch_rng"])
        if state.get("cuda_rng") and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        metrics_path = path / METRICS_FILE
        if metrics_path.is_file():
            metrics = json.loads(metrics_path.read_text())
            restored = Evaluation(self.step, metrics, path, True, metrics.get("elapsed_s", 0.0))
            self.elapsed_before = float(restored.elapsed_s)
            self.train_time_s = float(metrics.get("train_time_s", 0.0))
            self.evaluations.append(restored)
            self.best = restored
