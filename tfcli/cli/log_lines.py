"""Plain-line logs for a stdout that is not a terminal (a pipe, nohup, SLURM, a Ray Job's log).

A study prints one line per trial event as it happens, and a status line every 30 seconds
like Ray Tune's CLI reporter; the environment variable ``TFCLI_STATUS_EVERY_S`` sets another
interval in seconds. Each line starts with the local time::

    2026-12-02 22:31:05 trial 0 started: train.lr=0.003162 model.d_model=32 (Ray trial 1a2b_00000)
    2026-12-02 22:31:09 trial 0 step 10: bleu 3.210 (best 3.210)
    2026-12-02 22:31:12 trial 0 finished at step 20: best bleu 4.100
    2026-12-02 22:31:12 trial 1 stopped at step 10: best bleu 1.200
    2026-12-02 22:31:13 trial 2 failed at step 10: DivergedError: training diverged ...
    2026-12-02 22:31:35 status: 1 running, 2 finished, 1 not started; 2/4 trials done, elapsed 0:30, ETA 0:30; best bleu 4.100 (0)

A trial is named by its number, as the report shows it (``TrialRecord.label``), with Ray's
id on its start line (where to find Ray's logs). The start line names the trial's searched
values (the watch passes them when Tune starts it); a trial whose start came without them
gets one ``trial N config: ...`` line with its first result. A trial that raised prints the
error's last line, when it is retried and when it used up its retries. The state words are
:class:`~tfcli.records.state.TrialState`'s.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from typing import Any

from tfcli.records import TrialState

STATUS_EVERY_S = 30.0

STARTED = "started"
RETRYING = "raised; retrying from its last checkpoint"


def stamp(text: str) -> str:
    return f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}"


def short(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def status_every_s() -> float:
    value = os.environ.get("TFCLI_STATUS_EVERY_S", "")
    try:
        return float(value) if float(value) > 0 else STATUS_EVERY_S
    except ValueError:
        return STATUS_EVERY_S


def config_text(config: dict, params: list[str]) -> str:
    return " ".join(f"{name}={short(config[name])}" for name in params if name in config)


def state_line(trial: str, state: TrialState, step, metric: str, best: float | None, error: str | None = None) -> str:
    """The line of a trial's new state; ``running`` with an ``error`` is a retry."""
    at = f" at step {step}" if step not in (None, "") else ""
    if state is TrialState.RUNNING and error:
        return f"trial {trial} {RETRYING}{at}: {error}"
    if state is TrialState.RUNNING:
        return f"trial {trial} {STARTED}" + (f" again{at}" if at else "")
    if error and state.is_failure:
        detail = f": {error}"
    elif best is not None and not state.is_failure:
        detail = f": best {metric} {best:.3f}"
    else:
        detail = ""
    return f"trial {trial} {state.value}{at}{detail}"


def evaluation_line(trial_id: str, step, metric: str, value: float, best: float) -> str:
    return f"trial {trial_id} step {step}: {metric} {value:.3f} (best {best:.3f})"


def status_line(states: list[TrialState], total: int, progress: str) -> str:
    counts = Counter(states)
    parts = [f"{counts[s]} {s.value}" for s in TrialState if counts[s]]
    if total > len(states):
        parts.append(f"{total - len(states)} not started")
    return f"status: {', '.join(parts) or 'no trials'}; {progress}"


class StudyLines:
    """Prints a study's trial events as plain lines, and a status line every ``every_s`` seconds.

    ``study`` is the :class:`~tfcli.cli.study_live.StudyLive` whose trials it reports: the
    status thread reads them under ``study.lock``.
    """

    def __init__(self, screen, study, every_s: float):
        self.screen = screen
        self.study = study
        self.every_s = every_s
        self.config_told: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def print(self, text: str) -> None:
        self.screen.print(stamp(text), markup=False, highlight=False)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._status_loop, name="tfcli-status", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _status_loop(self) -> None:
        while not self._stop.wait(self.every_s):
            with self.study.lock:
                self.print(self.status())

    def status(self) -> str:
        study = self.study
        return status_line([t["state"] for t in study.trials.values()], study.total, study.progress_text())

    def result(self, trial_id: str, trial: dict, value: float | None) -> None:
        self._config(trial_id, trial)
        if value is not None:
            self.print(evaluation_line(trial_id, trial.get("step", ""), self.study.metric, value, trial["best"]))

    def state(self, trial_id: str, trial: dict, previous: TrialState | None, error: str | None = None) -> None:
        """``error``: what the trial was just told with (a retry's reason, when running again)."""
        state = trial["state"]
        retry = state is TrialState.RUNNING and previous is TrialState.RUNNING and error
        if state is previous and not retry:
            return
        step = trial.get("step") if previous is not None else None
        told = error if retry else None if state is TrialState.RUNNING else trial.get("error")
        text = state_line(trial_id, state, step, self.study.metric, trial["best"], told)
        config = config_text(trial["config"], self.study.search_params)
        if state is TrialState.RUNNING and config and not retry:
            text += f": {config}"
            self.config_told.add(trial_id)
        if state is TrialState.RUNNING and not retry and trial.get("ray_id") not in (None, trial_id):
            text += f" (Ray trial {trial['ray_id']})"
        self.print(text)

    def _config(self, trial_id: str, trial: dict) -> None:
        config = config_text(trial["config"], self.study.search_params)
        if config and trial_id not in self.config_told:
            self.config_told.add(trial_id)
            self.print(f"trial {trial_id} config: {config}")
