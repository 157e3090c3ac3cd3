"""The live display of a running study: progress, best so far, and a table of trials.

On a terminal it is drawn with Rich ``Live``; otherwise each event is one plain line as it
happens (:mod:`tfcli.cli.log_lines`), and the table is printed once at the end.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from tfcli.cli.log_lines import StudyLines, duration, short, stamp, status_every_s
from tfcli.records import TrialState
from tfcli.spec.constraints import broken, constraints_of
from tfcli.spec.objective import TIE_BREAK_METRIC, primary_objective
from tfcli.study.trial_wrapper import FAILURE_KEY, FAILURE_MESSAGE_KEY

STATE_STYLES = {
    TrialState.RUNNING: "cyan",
    TrialState.FINISHED: "green",
    TrialState.STOPPED: "blue",
    TrialState.FAILED: "red",
    TrialState.KILLED: "magenta",
}


class StudyLive:
    """Implements the runner's ``Progress`` hooks; draws them with Rich ``Live`` on a terminal,
    else prints them as plain lines."""

    def __init__(self, screen, spec, total: int):
        self.screen = screen
        self.spec = spec
        self.total = total
        self.metric = spec.primary_objective.metric
        self.mode = spec.primary_objective.mode
        self.objective = primary_objective(spec)
        self.search_params = list(spec.search.parameters)
        self.params = self.search_params[:4]
        self.trials: dict[str, dict[str, Any]] = {}
        self.done_before = 0  # trials that had ended before this driver started (resume)
        self.started = time.monotonic()
        self.live = None
        self.entered = False
        self.lock = threading.Lock()
        self.lines = None if screen.is_terminal else StudyLines(screen, self, status_every_s())
        self.lines_started = False

    def show_records(self, records) -> None:
        """Show a resumed study's trials as MLflow holds them, before Ray reports any."""
        for record in records:
            state = record.state
            self.trials[record.label] = {
                "state": state,
                "config": dict(record.config),
                "best": record.objective_value if not state.is_failure else None,
                "step": record.last_step if record.last_step is not None else "",
            }
        self.done_before = sum(t["state"].is_done for t in self.trials.values())

    def __enter__(self):
        self.entered = True
        return self

    def __exit__(self, *exc):
        if self.lines_started:
            self.lines.close()
            self.lines_started = False
            self.screen.print(self.render())
            self.screen.print()
        if self.live is not None:
            self.live.update(self.render())
            self.live.__exit__(*exc)
            if not self.screen.is_terminal:
                self.screen.print()
        self.entered = False
        return False

    def _start(self) -> None:
        """Draw from the first trial event on, so that a study refused before any trial runs
        (no Ray, a damaged state) prints its one line without an empty table above it."""
        self.live = Live(self.render(), console=self.screen, refresh_per_second=2, transient=False)
        self.live.__enter__()

    # Progress hooks ------------------------------------------------------------------------
    def on_result(self, trial_id: str, result: dict) -> None:
        with self.lock:
            trial = self.trials.setdefault(trial_id, {"state": TrialState.RUNNING, "config": {}, "best": None})
            config = result.get("config") or {}
            if config:
                trial["config"] = config
            if "step" in result:
                trial["step"] = result["step"]
            trial["infeasible"] = broken(constraints_of(self.spec.search.constraints), result)  # judged on its latest result
            value = result.get(self.metric)
            if FAILURE_KEY in result:
                trial["error"] = result.get(FAILURE_MESSAGE_KEY) or result[FAILURE_KEY]
                value = None
            elif not (isinstance(value, (int, float)) and math.isfinite(value)):
                value = None
            if value is not None:
                trial["last"] = value
                key = (value, result.get(TIE_BREAK_METRIC), result.get("step"))
                if trial["best"] is None or self.objective.outranks(key, trial.get("best_key") or (trial["best"], None, None)):
                    trial["best"], trial["best_key"] = value, key
            self._refresh()
            if self.lines_started:
                self.lines.result(trial_id, trial, value)

    def on_trial_state(
        self, trial_id: str, state: TrialState, config: dict | None = None, error: str | None = None, ray_id: str | None = None
    ) -> None:
        with self.lock:
            trial = self.trials.get(trial_id)
            previous = trial["state"] if trial is not None else None
            self.trials.setdefault(trial_id, {"state": state, "config": {}, "best": None})["state"] = state
            if config:
                self.trials[trial_id]["config"] = config
            if error:
                self.trials[trial_id]["error"] = error
            if ray_id:
                self.trials[trial_id]["ray_id"] = ray_id
            self._refresh()
            if self.lines_started:
                self.lines.state(trial_id, self.trials[trial_id], previous, error)

    def on_notice(self, text: str) -> None:
        """A line about the study as a whole (what it waits for), printed above the table."""
        with self.lock:
            self.screen.print(stamp(text) if self.lines is not None else text, markup=False, highlight=False)

    # Rendering -----------------------------------------------------------------------------
    def _refresh(self) -> None:
        if self.lines is not None:
            if self.entered and not self.lines_started:
                self.lines.start()
                self.lines_started = True
            return
        if self.live is None and self.entered:
            self._start()
        if self.live is not None:
            self.live.update(self.render())

    def best(self) -> tuple[str, float] | None:
        healthy = [(tid, t) for tid, t in self.trials.items() if t["best"] is not None and not t["state"].is_failure]
        top = self.objective.best(
            healthy, key=lambda item: item[1].get("best_key") or (item[1]["best"], None, None), infeasible=lambda item: item[1].get("infeasible")
        )
        return (top[0], top[1]["best"]) if top else None

    def progress_text(self) -> str:
        done = sum(t["state"].is_done for t in self.trials.values())
        elapsed = time.monotonic() - self.started
        eta = "-"
        if done > self.done_before:
            remaining = max(self.total - done, 0) * elapsed / (done - self.done_before)
            eta = duration(remaining)
        best = self.best()
        best_text = f"best {self.metric} {best[1]:.3f} ({best[0]})" if best else f"best {self.metric} -"
        return f"{done}/{self.total} trials done, elapsed {duration(elapsed)}, ETA {eta}; {best_text}"

    def render(self):
        header = Text(f"{self.spec.name}: {self.progress_text()}")
        table = Table(show_edge=False, pad_edge=False)
        table.add_column("trial")
        table.add_column("status")
        for name in self.params:
            table.add_column(name, justify="right")
        table.add_column("step", justify="right")
        table.add_column(self.metric, justify="right")
        for trial_id, trial in self.trials.items():
            state = trial["state"]
            row = [trial_id, f"[{STATE_STYLES.get(state, 'white')}]{state.label}[/]"]
            row += [short(trial["config"].get(name)) for name in self.params]
            row += [str(trial.get("step", "")), f"{trial['best']:.3f}" if trial["best"] is not None else ""]
            table.add_row(*row)
        return Group(header, table)

