"""The screen of ``tfcli train``: training-loop callbacks that draw and touch no store.

:class:`TrainDisplay` draws a progress bar and a table of evaluations;
:class:`TrainLines` is its plain-line form for a screen that is not a terminal: every
``train.log_every`` steps (default: a tenth of ``train.eval_every``) one flushed line
``2026-12-02 22:31:05 step 50/1500: loss 3.214, 12,345 tok/s, lr 3.00e-04``, and one line
per evaluation. :func:`train_display` picks one; ``tfcli train`` passes it to
:func:`~tfcli.study.single_run.train_and_track`, which logs the run to MLflow.
"""

from __future__ import annotations

from typing import Any

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from tfcli.cli.log_lines import stamp
from tfcli.spec.tasks import TASKS


def train_display(screen, spec):
    """The Rich display on a terminal, else plain lines."""
    return TrainDisplay(screen, spec) if screen.is_terminal else TrainLines(screen, spec)


class _TrainScreen:
    """What both displays print: the data and model, each evaluation, and the summary."""

    def __init__(self, screen, spec):
        self.screen = screen
        self.spec = spec
        self.rows: list[dict[str, Any]] = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def _line(self, text: str) -> None:
        self.screen.print(text)

    def _resumed_at(self, step: int) -> None:
        pass

    def on_start(self, trainer) -> None:
        """The data and the model, once the trainer has built them."""
        data = trainer.data
        sizes = ", ".join(f"{k} {v}" for k, v in data.sizes.items())
        self.screen.print(
            f"Data: {sizes}; vocabulary {data.tokenizer.vocab_size}; model {trainer.task.parameter_count(trainer.model):,} "
            f"parameters on {trainer.placement.device} ({trainer.placement.precision})"
        )
        if trainer.placement.reason:
            self.screen.print(f"Precision {trainer.placement.precision}: {trainer.placement.reason}", markup=False)
        cut = {k: v for k, v in data.truncated.items() if v}
        if cut:
            self.screen.print(f"[yellow]warning:[/yellow] truncated to the maximum length: {cut} examples (by split)")
        if trainer.step:
            self._resumed_at(trainer.step)

    def on_evaluation(self, evaluation) -> bool:
        metrics = evaluation.metrics
        self.rows.append(metrics)
        objective = self.spec.primary_objective.metric
        self._line(
            f"step {evaluation.step}: {objective} {metrics.get(objective, float('nan')):.2f}, valid loss {metrics.get('loss', float('nan')):.3f}"
            + (" (best)" if evaluation.is_best else "")
        )
        return False

    def print_summary(self, result, run_id: str, tracking_uri: str) -> None:
        names = [m for m in TASKS[self.spec.task.type].metrics]
        table = Table(title="Evaluations (validation split)")
        table.add_column("step", justify="right")
        for name in names:
            table.add_column(name, justify="right")
        for row in self.rows:
            table.add_row(str(row["step"]), *(f"{row[n]:.3f}" if n in row else "" for n in names))
        self.screen.print(table)
        if result.max_time_reached:
            self.screen.print(f"Ended at train.max_time ({self.spec.train.max_time}) after {result.steps} of {self.spec.train.max_steps} steps.")
        if result.test_metrics:
            test = ", ".join(f"{k} {v:.2f}" for k, v in result.test_metrics.items())
            self.screen.print(f"Test split (best checkpoint, step {result.best.step}): {test}")
        self.screen.print(f"MLflow run {run_id} in {tracking_uri}; best checkpoint {result.best.checkpoint if result.best else '-'}")


class TrainDisplay(_TrainScreen):
    """A training-loop callback that draws progress and each evaluation on the screen (no MLflow)."""

    def __init__(self, screen, spec):
        super().__init__(screen, spec)
        self.progress = Progress(
            TextColumn("step {task.completed}/{task.total}"),
            BarColumn(),
            TextColumn("loss {task.fields[loss]:.3f}"),
            TextColumn("{task.fields[tps]:,.0f} tok/s"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=screen,
            transient=False,
        )
        self.task_id = None

    def __enter__(self):
        self.progress.__enter__()
        self.task_id = self.progress.add_task("train", total=self.spec.train.max_steps, loss=float("nan"), tps=0.0)
        return self

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)

    def _resumed_at(self, step: int) -> None:
        self.progress.update(self.task_id, completed=step)

    def on_step(self, step: int, loss: float, tokens_per_s: float, lr: float) -> None:
        self.progress.update(self.task_id, completed=step, loss=loss, tps=tokens_per_s)


class TrainLines(_TrainScreen):
    """Plain lines instead of the progress bar: every ``every`` steps the mean loss since the
    last line, tokens/s and the learning rate, and each evaluation; timestamped, flushed."""

    def __init__(self, screen, spec):
        super().__init__(screen, spec)
        self.every = spec.train.log_every or max(1, spec.train.eval_every // 10)
        self.losses: list[float] = []

    def _line(self, text: str) -> None:
        self.screen.print(stamp(text), markup=False, highlight=False)

    def on_step(self, step: int, loss: float, tokens_per_s: float, lr: float) -> None:
        self.losses.append(loss)
        if step % self.every == 0 or step == self.spec.train.max_steps:
            mean = sum(self.losses) / len(self.losses)
            self.losses = []
            self._line(step_line(step, self.spec.train.max_steps, mean, tokens_per_s, lr))


def step_line(step: int, max_steps: int, loss: float, tokens_per_s: float, lr: float) -> str:
    return f"step {step}/{max_steps}: loss {loss:.3f}, {tokens_per_s:,.0f} tok/s, lr {lr:.2e}"
