"""MLflow, the system of record: the store, the study callback, single runs, and records.

Besides :mod:`tfcli.serving` (MLflow's way into an exported model), the only tfcli code that
imports MLflow, and it does so inside functions, so that ``import tfcli.tracking`` stays
cheap for the CLI. Ray is imported lazily as well: the Tune callback class
:class:`MlflowStudyCallback` is built on first access.

Layout in the store (the names are in :mod:`.tags`):

* experiment = the study's name; one **parent run** per study (``tfcli.role=study``) tagged
  with the study id, carrying ``study.yaml`` and ``spec.json``;
* one **child run** per Ray trial (``tfcli.role=trial``, ``mlflow.parentRunId``), named
  ``trial N`` by its number (``tfcli.trial_number``, what every view calls it) and found again
  by ``tfcli.study_id`` + ``tfcli.trial_id`` when a study is resumed or extended. Its state
  word is the tag ``tfcli.state`` (:mod:`tfcli.records.state` decides it). Its params
  are the trial's full configuration in dotted names, its metrics the reported results at
  step = training step, and at its end its best checkpoint (by the objective) is logged under
  ``checkpoint/`` (with ``valid_outputs.jsonl`` inside), a failure's text as ``error.txt``.

PBT: MLflow params cannot change once logged, so a child's params keep the values the trial
started with. Each change of the searched values is recorded in ``config_history.json``
(``[{"step": 0, "config": {...}}, {"step": 1200, "config": {...}, "changes": {...}}]``) with
the tags ``tfcli.config_changes`` (count) and ``tfcli.config_final`` (JSON of the current
values); under a PBT scheduler every numeric searched value is also logged at each step as
the metric ``hp/<dotted name>``, so the schedule shows up as a curve in the MLflow UI.

The modules, each with one job; the rest of tfcli uses the names re-exported here:

* :mod:`.tags`: the tag, role, artifact and result-key names, and MLflow's size limits;
* :mod:`.store`: :class:`Tracking`, resolving and checking a tracking URI, experiments;
* :mod:`.search`: searches through MLflow's client (a study's parent and trial runs, paging);
* :mod:`.reading`: studies and trials read back as records (:func:`load_study`, ...);
  :mod:`.sources` picks where from: a local SQLite store at a schema revision it was checked
  against is read by :mod:`.sqlite_reader` without MLflow (what makes ``tfcli report`` fast);
  every other store (a server, PostgreSQL, an unverified SQLite schema) through MLflow's
  public client, with :mod:`.search`;
* :mod:`.callback`: the study callback (:class:`MlflowStudyCallback`, its logic without Ray
  in :class:`~.callback.StudyTracker`), with :mod:`.writer` (its writer thread; a trial's
  run ends there), :mod:`.parent` (the study's parent run), :mod:`.children` (the runs it
  re-attaches to), :mod:`.summary` (the parent run's counts and best trial),
  :mod:`.ray_trial` (what it reads of a Ray trial) and :mod:`.environment` (the version, git
  and user tags every run gets);
* :mod:`.run_logger`: :class:`RunLogger`, one run outside Ray for ``tfcli train``;
* :mod:`.artifacts`, :mod:`.models` and :mod:`.ui`: what ``tfcli report``, ``export``,
  ``predict`` and ``ui`` need from MLflow;
* :mod:`.values`: pure helpers shared by all of them;
* :mod:`.mlflow_private`: the only MLflow internals tfcli touches (where MLflow has no public
  API), checked against one MLflow version by a test.

Names shared between these modules are public (no leading underscore); a leading underscore
means the name is used only inside its own module.
"""

from __future__ import annotations

from typing import Any

from tfcli.tracking.artifacts import download_run_artifact, list_run_artifacts, log_run_artifact
from tfcli.tracking.callback import callback_class, spec_params
from tfcli.tracking.models import RegisteredModel, download_model, log_pyfunc_model
from tfcli.tracking.ray_trial import best_checkpoint
from tfcli.tracking.reading import (
    StudySnapshot,
    confirmation_records,
    list_studies,
    load_study,
    metric_histories,
    readable_tracking,
    run_tags,
    study_names,
    study_record,
    trial_records,
    unknown_study_error,
    with_history,
)
from tfcli.tracking.run_logger import RunLogger
from tfcli.tracking.search import find_study, parent_run_id, study_runs
from tfcli.tracking.store import Tracking, check_tracking, default_tracking_uri, ensure_experiment, resolve_tracking
from tfcli.tracking.tags import *  # noqa: F403 - every tag, role, artifact and result-key name, and MLflow's limits
from tfcli.tracking.ui import study_url, ui_command


def __getattr__(name: str) -> Any:
    # MlflowStudyCallback subclasses ray.tune.Callback; building it on first access keeps
    # Ray out of `import tfcli.tracking`. Pickle finds it by name through this hook too.
    if name == "MlflowStudyCallback":
        return callback_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
