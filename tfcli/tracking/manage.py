"""Changing a study's record in MLflow after it ran: user tags, the note, and a soft delete.

What ``tfcli study tag``, ``note`` and ``delete`` write (:mod:`tfcli.study.manage` decides
when); MLflow's public client only.

* Tags go on the study's parent run. The ``tfcli.`` and ``mlflow.`` namespaces are reserved
  (:data:`RESERVED_TAG_PREFIXES`): tfcli reads its own tags back to resume and report a
  study, and MLflow's carry the run's name, parent, note and source; so are the ``best.``
  tags the study callback keeps up to date on the parent run.
* The note is the parent run's description: the tag :data:`TAG_NOTE` that MLflow's UI shows
  (and edits) as the run's description.
* A delete is MLflow's soft delete (``delete_run``, ``delete_experiment``): nothing is
  erased, ``mlflow experiments restore`` brings it back and ``mlflow gc`` erases it for
  good. MLflow refuses to create an experiment whose name a deleted experiment holds, so the
  experiment is first renamed (``rename_experiment``; MLflow renames only an active one) to
  :func:`deleted_name`, which no study can be named (a study's name has no spaces or
  parentheses) and which keeps the old name readable in ``mlflow experiments search --view
  all``. That frees the name for a new study at once, without erasing anything and without
  touching MLflow's internals. Restoring a deleted study takes two public commands, the
  restore and a rename back (:meth:`DeletedExperiment.restore_hint`). The new experiment of
  a reused name gets the same artifact folder as the deleted one; runs keep their artifacts
  under their own run ids, and ``mlflow gc`` erases deleted runs' folders one by one, so
  the two never touch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterable, Mapping

from tfcli.errors import ConfigError
from tfcli.tracking.search import search_all
from tfcli.tracking.store import Tracking
from tfcli.tracking.tags import MAX_TAG_VALUE, MAX_TAGS_PER_BATCH, ROLE_STUDY, TAG_BEST_VALUE_PREFIX, TAG_NOTE, TAG_ROLE
from tfcli.tracking.values import one_line

#: Tag namespaces a user may not set with ``tfcli study tag``: tfcli's and MLflow's own, and
#: the best trial's searched values that the study callback keeps on the parent run.
RESERVED_TAG_PREFIXES = ("tfcli.", "mlflow.", TAG_BEST_VALUE_PREFIX)


def parse_tag_options(options: Iterable[str]) -> dict[str, str]:
    """``["team=nlp", "ticket=42"]`` as ``{"team": "nlp", "ticket": "42"}``; the last of a
    repeated key wins. ConfigError, one line, for a missing ``=``, an empty key or a key in a
    reserved namespace."""
    tags: dict[str, str] = {}
    for option in options:
        key, sep, value = option.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"a tag must read KEY=VALUE, e.g. team=nlp, but got {option!r}")
        reserved = next((p for p in RESERVED_TAG_PREFIXES if key.lower().startswith(p)), None)
        if reserved:
            raise ConfigError(
                f"tag keys must not start with {', '.join(map(repr, RESERVED_TAG_PREFIXES))} (tfcli and MLflow write those), "
                f"but got {key!r}; choose another key"
            )
        tags[key] = value
    if not tags:
        raise ConfigError("give at least one tag as KEY=VALUE, e.g. team=nlp")
    if len(tags) > MAX_TAGS_PER_BATCH:
        raise ConfigError(f"at most {MAX_TAGS_PER_BATCH} tags can be set at once, but got {len(tags)}")
    return tags


def set_run_tags(tracking: Tracking, run_id: str, tags: Mapping[str, str]) -> None:
    """Set ``tags`` on the run in one call (all or none); what MLflow refuses (a key with
    characters it does not allow, a value too long) is one ConfigError line."""
    from mlflow.entities import RunTag
    from mlflow.exceptions import MlflowException

    too_long = [k for k, v in tags.items() if len(v) > MAX_TAG_VALUE]
    if too_long:
        raise ConfigError(
            f"a tag value holds at most {MAX_TAG_VALUE} characters, but {too_long[0]!r} has {len(tags[too_long[0]])}"
        )
    try:
        tracking.client().log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
    except MlflowException as err:
        raise ConfigError(f"MLflow refused the tag(s) {', '.join(map(repr, tags))}: {one_line(err.message)}") from None


def set_run_note(tracking: Tracking, run_id: str, text: str) -> None:
    """The run's description (:data:`TAG_NOTE`), replacing any earlier one."""
    if len(text) > MAX_TAG_VALUE:
        raise ConfigError(f"a note holds at most {MAX_TAG_VALUE} characters, but this one has {len(text)}")
    tracking.client().set_tag(run_id, TAG_NOTE, text)


def experiment_runs(tracking: Tracking, experiment_id: str) -> list:
    """Every active run of the experiment: the study's parent run(s), its trial and
    confirmation runs, and any ``tfcli train`` run logged under the study's name."""
    return search_all(tracking.client(), [experiment_id], "")


def deleted_name(name: str, experiment_id: str, when: float | None = None) -> str:
    """The name a deleted study's experiment is given: no study can be named so."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if when is None else when))
    return f"{name} (deleted {stamp}, experiment {experiment_id})"


@dataclass(frozen=True)
class DeletedExperiment:
    experiment_id: str
    name: str  # the study's name, now free
    renamed_to: str
    runs: int

    def restore_hint(self) -> str:
        return (
            f"mlflow experiments restore --experiment-id {self.experiment_id} && "
            f"mlflow experiments rename --experiment-id {self.experiment_id} --new-name {self.name}"
        )


def soft_delete_experiment(tracking: Tracking, experiment_id: str, name: str) -> DeletedExperiment:
    """Soft-delete every active run of the experiment (children first, the parent runs last),
    then rename the experiment to :func:`deleted_name` and soft-delete it.

    Each step leaves a store that reads right when the next one does not happen (a crash):
    runs deleted, experiment active: no study of that name is listed and a new study reuses
    the experiment; renamed, not yet deleted: the name is free, the old one an empty
    experiment under its new name.
    """
    client = tracking.client()
    runs = experiment_runs(tracking, experiment_id)
    for run in sorted(runs, key=lambda r: r.data.tags.get(TAG_ROLE) == ROLE_STUDY):
        client.delete_run(run.info.run_id)
    renamed = deleted_name(name, experiment_id)
    client.rename_experiment(experiment_id, renamed)
    client.delete_experiment(experiment_id)
    return DeletedExperiment(experiment_id=experiment_id, name=name, renamed_to=renamed, runs=len(runs))
