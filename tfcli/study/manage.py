"""A study's lifecycle verbs after it ran: ``delete``, ``tag``, ``note`` and ``best``.

**delete** holds the study's lock (:func:`~tfcli.tracking.locks.study_lock`, the one that
``start``, ``resume``, ``extend`` and ``confirm`` hold), so a study a driver is running is
refused; a server store has no lock, see :attr:`DeletionPlan.unlocked`. Under the lock it
asks (``confirm``), then removes the study's Ray state first (the folders ``NAME`` and
``NAME-extK`` under its Ray storage) and then soft-deletes its MLflow runs and experiment
(:func:`tfcli.tracking.manage.soft_delete_experiment`, which says how the name is freed for a
new ``tfcli study start``: the deleted experiment is renamed, then deleted). Ray's state
goes first because a delete that stops between the two steps must leave a study that can be
deleted again: MLflow still finds it by name, and nothing else points at the Ray folders.

**tag** and **note** write on the study's parent run (:mod:`tfcli.tracking.manage`).

**best** is the trial ``tfcli report`` ranks first (:func:`tfcli.report.build.compare_studies`,
the study's own objective, each trial's best value) and its configuration: the entries of the
trial's configuration that name a setting (:func:`tfcli.spec.trial.searched_overrides`: the
searched values and the ``value`` constants, what :func:`~tfcli.spec.trial.trial_spec`
applies to the study's defaults). :func:`set_options` writes them as ``--set`` options that
:func:`tfcli.spec.overrides.parse_set_options` reads back to the same values; under PBT they
are the values the trial started with (``config_changes`` counts the changes after).
"""

from __future__ import annotations

import shutil
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

import pyarrow.fs
import yaml

from tfcli.errors import ConfigError, StudyError
from tfcli.report.build import compare_studies
from tfcli.spec.trial import searched_overrides
from tfcli.study.lifecycle import TAG_RAY_STORAGE, extension_names, known_study_names
from tfcli.study.storage import experiment_names, experiment_path, is_uri, resolve_storage
from tfcli.tracking.locks import study_lock, study_lock_path
from tfcli.tracking.manage import (
    DeletedExperiment,
    experiment_runs,
    parse_tag_options,
    set_run_note,
    set_run_tags,
    soft_delete_experiment,
)
from tfcli.tracking.reading import run_tags, study_record, unknown_study_error
from tfcli.tracking.tags import TAG_ROLE


def _record(tracking, name: str):
    """The study's record; the one-line error naming the known studies when there is none."""
    record = study_record(tracking, name)
    if record is None:
        raise unknown_study_error(tracking, name)
    return record


# --- delete -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeletionPlan:
    """What a delete of the study ``name`` removes."""

    name: str
    tracking_uri: str
    experiment_id: str
    runs: dict[str, int]  # active runs of the experiment by role (study, trial, confirmation, other)
    storage: str
    ray_folders: list[str] = field(default_factory=list)  # under storage
    unlocked: bool = False  # a server store: no lock tells whether a driver runs the study

    def summary(self) -> str:
        runs = ", ".join(f"{n} {role}" for role, n in sorted(self.runs.items())) or "no runs"
        ray = ", ".join(f"{self.storage}/{f}" for f in self.ray_folders) or "none found"
        text = (
            f"study {self.name!r} in {self.tracking_uri}: experiment {self.experiment_id} and its runs ({runs}); "
            f"Ray state: {ray}"
        )
        if self.unlocked:
            text += " (a server store has no study lock: make sure no driver is running this study)"
        return text


@dataclass(frozen=True)
class Deletion:
    plan: DeletionPlan
    experiment: DeletedExperiment


def delete_study(
    tracking, name: str, *, storage: Optional[str] = None, confirm: Callable[[DeletionPlan], bool]
) -> Optional[Deletion]:
    """Delete the study ``name`` once ``confirm(plan)`` says yes; None when it says no.

    StudyError for an unknown study (naming the known ones) and for a study whose lock
    another process holds. ``storage`` overrides where the study's parent run says Ray keeps
    it (``--storage``).
    """
    _record(tracking, name)
    with ExitStack() as stack:
        try:
            stack.enter_context(study_lock(tracking, name))
        except StudyError:
            raise StudyError(
                f"study {name!r} is running (another tfcli process holds {study_lock_path(tracking.sqlite_path, name)}); "
                "delete it once that process has ended, or stop it first (Ctrl-C)"
            ) from None
        plan = _plan(tracking, name, storage)
        if not confirm(plan):
            return None
        for folder in plan.ray_folders:
            _remove_ray_folder(plan.storage, folder)
        return Deletion(plan=plan, experiment=soft_delete_experiment(tracking, plan.experiment_id, name))


def _plan(tracking, name: str, storage: Optional[str]) -> DeletionPlan:
    record = _record(tracking, name)  # again, under the lock
    storage = resolve_storage(storage or run_tags(tracking, record.run_id).get(TAG_RAY_STORAGE) or None)
    counts: dict[str, int] = {}
    for run in experiment_runs(tracking, record.experiment_id):
        role = run.data.tags.get(TAG_ROLE) or "other"
        counts[role] = counts.get(role, 0) + 1
    return DeletionPlan(
        name=name, tracking_uri=tracking.uri, experiment_id=record.experiment_id, runs=counts, storage=storage,
        ray_folders=_ray_folders(tracking, name, storage), unlocked=study_lock_path(tracking.sqlite_path, name) is None,
    )


def _ray_folders(tracking, name: str, storage: str) -> list[str]:
    """The study's Tune experiments under ``storage`` that exist: ``NAME`` and its extensions
    (``NAME-extK``), less any that is another study's own name in the store."""
    present = set(experiment_names(storage))
    others = set(known_study_names(tracking)) - {name}
    return [n for n in [name, *extension_names(name, storage)] if n in present and (n == name or n not in others)]


def _remove_ray_folder(storage: str, folder: str) -> None:
    path = experiment_path(folder, storage)
    try:
        if is_uri(storage):
            fs, root = pyarrow.fs.FileSystem.from_uri(storage)
            fs.delete_dir(f"{root.rstrip('/')}/{folder}")
        else:
            shutil.rmtree(Path(path))
    except OSError as err:
        raise StudyError(
            f"the study's Ray state must be removable, but {path} could not be removed ({getattr(err, 'strerror', None) or err}); "
            "fix that and run the delete again"
        ) from None


# --- tag and note -----------------------------------------------------------------------------


def tag_study(tracking, name: str, options: list[str]) -> tuple[str, dict[str, str]]:
    """Set ``KEY=VALUE`` tags on the study's parent run; (its run id, the tags)."""
    tags = parse_tag_options(options)
    record = _record(tracking, name)
    set_run_tags(tracking, record.run_id, tags)
    return record.run_id, tags


def note_study(tracking, name: str, text: str) -> str:
    """Set the parent run's description (what MLflow's UI shows); its run id."""
    record = _record(tracking, name)
    set_run_note(tracking, record.run_id, text)
    return record.run_id


# --- best -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BestConfig:
    study: str
    trial_id: str
    run_id: str
    metric: str
    mode: str
    value: float
    step: Optional[int]
    config: dict[str, Any]  # dotted setting -> value
    config_changes: int = 0  # PBT: changes after the start

    def to_dict(self) -> dict[str, Any]:
        return {
            "study": self.study, "trial_id": self.trial_id, "run_id": self.run_id, "metric": self.metric,
            "mode": self.mode, "value": self.value, "step": self.step, "config": dict(self.config),
            "config_changes": self.config_changes,
        }


def best_config(tracking, name: str) -> BestConfig:
    """The configuration of the study's best trial; StudyError when no trial is ranked yet."""
    best = compare_studies(tracking, [name])[0]
    row = best.best
    if row is None:
        counts = ", ".join(f"{n} {s.lower()}" for s, n in sorted(best.study.counts.items()) if n) or "no trials"
        raise StudyError(
            f"study {name!r} has no trial with a {best.metric} value to rank yet ({counts}); "
            f"see `tfcli study status {name}`"
        )
    record = row.record
    return BestConfig(
        study=name, trial_id=record.trial_id, run_id=record.run_id, metric=best.metric, mode=best.mode,
        value=row.value, step=row.step, config=dict(sorted(searched_overrides(dict(record.config)).items())),
        config_changes=record.config_changes,
    )


def _yaml_scalar(value: Any) -> str:
    """``value`` as one YAML scalar (or flow collection) that ``yaml.safe_load`` reads back as it is."""
    text = yaml.safe_dump(value, default_flow_style=True, width=1 << 30, allow_unicode=True)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def set_options(config: Mapping[str, Any]) -> list[str]:
    """``--set KEY=VALUE`` per entry, each VALUE as :func:`~tfcli.spec.overrides.parse_set_options`
    reads it back (a YAML scalar); ConfigError for a value with whitespace, which a shell's
    ``$(...)`` would split."""
    out = []
    for key, value in config.items():
        text = _yaml_scalar(value)
        if any(c.isspace() for c in text):
            raise ConfigError(
                f"{key}={text} has whitespace, which $(tfcli study best ... --format overrides) would split; "
                "use --format yaml or json for this study"
            )
        out += ["--set", f"{key}={text}"]
    return out


def config_yaml(best: BestConfig) -> str:
    """A study-file fragment: the configuration as nested sections, under a comment that says
    which trial it is."""
    nested: dict[str, dict[str, Any]] = {}
    for path, value in best.config.items():
        section, _, name = path.partition(".")
        nested.setdefault(section, {})[name] = value
    step = f" at step {best.step}" if best.step is not None else ""
    header = f"# best trial {best.trial_id} of study {best.study}: {best.metric} {best.value:.6g} ({best.mode}){step}\n"
    return header + (yaml.safe_dump(nested, sort_keys=False, allow_unicode=True) if nested else "{}\n")


__all__ = [
    "BestConfig", "Deletion", "DeletionPlan", "best_config", "config_yaml", "delete_study", "note_study",
    "set_options", "tag_study",
]
