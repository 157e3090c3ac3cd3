"""The only private Ray (and Optuna) APIs that tfcli.study touches, in one place.

Checked against Ray 2.60.0 (and the Optuna that ``ray[tune]`` installed with it); each has
no public equivalent there. ``tests/study/test_ray_internals.py`` fails loudly when one of
them changes shape: re-check this module against the new version before updating the test.

- :func:`set_tuner_callbacks`: ``Tuner._local_tuner`` (the in-process ``TunerInternal``).
  Public callbacks go through ``RunConfig`` and must pickle, and ``Tuner.restore`` has no
  ``run_config``/``callbacks`` argument, so resumed studies would run the stale pickled ones.
- :func:`trial_session`: ``ray.train._internal.session.get_session``, the worker's session,
  which every ``tune.report`` goes through (``ray.tune.report`` calls it as well).
- :func:`distribution_contains`: Optuna's ``BaseDistribution._contains`` (Optuna has no
  public "is this value inside the distribution" check).
- :func:`optuna_search_study`: ``OptunaSearch._ot_study``, the Optuna study inside Ray Tune's
  OptunaSearch (checked against Ray 2.60.0): tfcli tells it earlier trials of a define-by-run
  space or with several objectives, and queues partial ``search.initial`` points on it
  (OptunaSearch's own ``points_to_evaluate`` needs every parameter of a distribution space).
- :func:`optuna_search_trial`: ``OptunaSearch._ot_trials`` (Ray's trial id -> the live
  ``optuna.Trial`` it asked the sampler for, checked against Ray 2.60.0): tfcli sets a trial's
  constraint violations on it just before OptunaSearch tells the study, so that the sampler's
  ``constraints_func`` reads them (``search.constraints``).
- :func:`nsga2_sampler_class` and :func:`skip_qmc_samples`: private Optuna APIs, kept in
  :mod:`tfcli.study.optuna_internals`, which imports Optuna at its top (this module is
  imported on every worker, which needs no Optuna).
- :func:`without_gone_checkpoints`: a trial's run metadata in Ray's experiment state
  (``ray.tune.trainable.metadata._TrainingRunMetadata`` and its ``_CheckpointManager``'s
  ``_checkpoint_results`` and ``_latest_checkpoint_result``): Ray deletes a superseded
  checkpoint as it registers the next one and saves the state only afterwards, so a driver
  killed in between leaves a state whose latest checkpoint is gone; Tune has no public way
  to restore such a trial from an earlier checkpoint or from the start.
- :func:`staged_state_files`: where Ray stages the driver's experiment files before it copies
  them to the storage path (``<Ray temp>/session_*/artifacts/<time>/<experiment>/driver_artifacts``,
  ``ray.train._internal.storage.StorageContext.experiment_driver_staging_path``, and
  ``ray._common.utils.get_default_ray_temp_dir``). The copy to storage is a plain write, so a
  driver killed during it leaves a torn file there while the staged one is whole.
- :func:`hyperband_trial_brackets`: ``HyperBandScheduler._trial_info`` (trial -> its
  ``_Bracket`` and band) and the bracket's ``finished()`` and ``current_trials()``, which
  :mod:`tfcli.study.hyperband` reads to find a trial that HyperBand left paused for good (Tune
  has no public view of a scheduler's brackets).

Imports Ray only inside functions (trial_wrapper imports this module on every worker).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from tfcli.errors import ClusterError

#: The Ray version these were checked against.
CHECKED_RAY_VERSION = "2.60.0"
#: The Optuna version :func:`distribution_contains` was checked against.
CHECKED_OPTUNA_VERSION = "5.1.0"


def set_tuner_callbacks(tuner: Any, callbacks: list) -> None:
    """Set the callbacks on the Tuner's in-process RunConfig, after it was built or restored."""
    internal = getattr(tuner, "_local_tuner", None)
    if internal is None:  # pragma: no cover - only under Ray Client, which connect() refuses
        raise ClusterError("Ray Client mode is not supported; give the GCS address (HOST:6379)")
    internal.get_run_config().callbacks = list(callbacks)


def set_tuner_stopper(tuner: Any, stopper: Any) -> None:
    """Set the experiment's stopper on the Tuner's in-process RunConfig, after it was built or
    restored (like :func:`set_tuner_callbacks`: ``Tuner.restore`` would bring back a pickled copy,
    and the runner must hold the object Tune asks)."""
    internal = getattr(tuner, "_local_tuner", None)
    if internal is None:  # pragma: no cover - only under Ray Client, which connect() refuses
        raise ClusterError("Ray Client mode is not supported; give the GCS address (HOST:6379)")
    internal.get_run_config().stop = stopper


def trial_session() -> Any | None:
    """The Ray session of the trial running in this worker (has ``.report``), or None."""
    try:
        from ray.train._internal.session import get_session
    except ImportError:  # a Ray without this internal
        return None
    return get_session()


def hyperband_trial_brackets(scheduler: Any) -> list[tuple[Any, Any]]:
    """(trial, bracket) for every trial a ``HyperBandScheduler`` has placed in a bracket; each
    bracket answers ``finished()`` and ``current_trials()``."""
    return [(trial, info[0]) for trial, info in list(scheduler._trial_info.items())]


def without_gone_checkpoints(run_metadata_json: str, exists) -> tuple[str, str, str | None] | None:
    """A trial's run metadata (as Ray's experiment state holds it) without checkpoints that are gone.

    ``exists(path)`` says whether a checkpoint folder is still on storage. When the latest
    checkpoint is, returns None. Otherwise returns the metadata with every gone checkpoint
    dropped and the newest that remains (by Ray's ``checkpoint_NNNNNN`` name) made the latest,
    or none kept, so the trial starts again; with the gone path and the one it resumes from.
    """
    from ray.tune.trainable.metadata import _TrainingRunMetadata

    metadata = _TrainingRunMetadata.from_json_state(run_metadata_json)
    manager = metadata.checkpoint_manager
    latest = getattr(manager, "_latest_checkpoint_result", None)
    if latest is None or exists(latest.checkpoint.path):
        return None
    kept = [r for r in manager._checkpoint_results if r is not latest and exists(r.checkpoint.path)]
    manager._checkpoint_results = kept
    newest = max(kept, key=lambda r: Path(r.checkpoint.path).name, default=None)
    manager._latest_checkpoint_result = newest
    metadata.invalidate_cache()
    return metadata.get_json_state(), latest.checkpoint.path, newest.checkpoint.path if newest else None


def staged_state_files(experiment: str, file_name: str) -> list[Path]:
    """Ray's staged copies of the experiment's state file ``file_name`` on this machine, newest first."""
    from ray._common.utils import get_default_ray_temp_dir

    found = Path(get_default_ray_temp_dir()).glob(f"session_*/artifacts/*/{experiment}/driver_artifacts/{file_name}")
    unique = {p.resolve() for p in found if p.is_file()}  # session_latest links to one of the sessions
    return sorted(unique, key=lambda p: p.stat().st_mtime, reverse=True)


def distribution_contains(dist: Any, value: Any) -> bool:
    """Whether ``value`` (external representation) lies inside the Optuna distribution."""
    return bool(dist._contains(dist.to_internal_repr(value)))


def optuna_search_study(searcher: Any) -> Any:
    """The ``optuna.Study`` of a Ray Tune ``OptunaSearch`` (set up once it has a space)."""
    study = getattr(searcher, "_ot_study", None)
    if study is None:
        raise RuntimeError("the OptunaSearch has no Optuna study yet (it is given no space)")
    return study


def optuna_search_trial(searcher: Any, trial_id: str) -> Any | None:
    """The live ``optuna.Trial`` a Ray Tune ``OptunaSearch`` holds for Ray's ``trial_id``, or
    None when it holds none (a trial it did not suggest)."""
    return getattr(searcher, "_ot_trials", {}).get(trial_id)


def __getattr__(name: str):
    """``PicklableNSGAIISampler`` by its old name: the Tune state of a study started before it
    moved to :mod:`tfcli.study.optuna_internals` pickled it as this module's, and resolving it
    only when such a state is loaded keeps Optuna off the workers that import this module."""
    if name == "PicklableNSGAIISampler":
        return importlib.import_module("tfcli.study.optuna_internals").PicklableNSGAIISampler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
