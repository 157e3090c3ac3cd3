"""Whether Ray's saved state of a study can be resumed: checked before Tune is asked to.

``Tuner.restore`` needs only ``tuner.pkl``; when the experiment state beside it is missing
or damaged, Tune logs "Failed to restore the run state" and quietly starts the experiment
again from nothing, whose new trials then meet the old trials' runs in MLflow. tfcli reads
the state first and refuses to resume from one it cannot trust (``resume --rebuild`` then
rebuilds the study from MLflow's records instead).
"""

from __future__ import annotations

import json
import os
import pickletools
from pathlib import Path

from tfcli.records.state import RAY_ERROR, RAY_PAUSED, RAY_PENDING, RAY_RUNNING
from tfcli.study.ray_internals import staged_state_files, without_gone_checkpoints
from tfcli.study.storage import is_uri

TUNER_FILE = "tuner.pkl"
STATE_GLOB = "experiment_state-*.json"
#: The search algorithm's saved state beside it: Tune's variant generator, its searcher wrapper
#: and the searcher. All three are pickles (Tune names the first two ``.json``).
SEARCH_STATE_GLOBS = ("basic-variant-state-*.json", "search_gen_state-*.json", "searcher-state-*.pkl")


def _newest_state(folder: Path) -> Path | None:
    """The state file Tune restores from: the greatest name (each holds its session's start time)."""
    return max(folder.glob(STATE_GLOB), key=lambda p: p.name, default=None)


def saved_trial_ids(state_file: Path) -> list[str]:
    """The ids of the trials an experiment state file holds; ValueError if it is damaged."""
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
        entries = state["trial_data"]
        ids = []
        for trial_json, _metadata in entries:
            trial = json.loads(trial_json) if isinstance(trial_json, str) else trial_json
            ids.append(str(trial["trial_id"]))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{type(err).__name__}: {err}") from None
    return ids


def ray_state_problem(path: str, finished_trial_ids: set[str] | None = None) -> str | None:
    """What is wrong with the saved experiment at ``path`` for a resume, or None.

    ``finished_trial_ids``: trials MLflow holds as finished. Those of this experiment (Ray
    gives the trials of one experiment one id prefix, ``78c04_00000``) must all be in the
    state; one that lacks any is older than the store's records (a restored backup, a copy)
    and would run them again. URIs (``s3://``...) are not inspected: Tune reads them itself.
    """
    if is_uri(path):
        return None
    folder = Path(path)
    if not (folder / TUNER_FILE).is_file():
        return f"Ray saved nothing at {folder} (the driver stopped before Ray had the study)"
    state_file = _newest_state(folder)
    if state_file is None:
        return f"Ray saved no experiment state in {folder} (the driver stopped before its first save)"
    try:
        ids = saved_trial_ids(state_file)
    except ValueError as err:
        return f"Ray's experiment state {state_file} is damaged ({err})"
    torn = [p for p in _search_states(folder) if not _whole(p)]
    if torn:
        return f"Ray's search state {torn[0]} is damaged (cut short)"
    prefixes = {_prefix(i) for i in ids}
    missing = sorted(i for i in (finished_trial_ids or set()) - set(ids) if _prefix(i) in prefixes)
    if missing:
        return f"Ray's experiment state {state_file} lacks finished trial(s) {', '.join(missing)} that MLflow holds"
    return None


def _prefix(trial_id: str) -> str:
    return trial_id.rpartition("_")[0]


def orphan_trial_ids(path: str, trial_ids: set[str]) -> set[str]:
    """Of ``trial_ids`` (unfinished in MLflow), those of this experiment that its sound state
    never saved: the driver stopped between the trial's start and Ray's next save, so a
    resume never continues them (Ray draws their place in the search again)."""
    if is_uri(path):
        return set()
    state_file = _newest_state(Path(path))
    if state_file is None:
        return set()
    try:
        ids = set(saved_trial_ids(state_file))
    except ValueError:
        return set()
    prefixes = {_prefix(i) for i in ids}
    return {i for i in trial_ids - ids if _prefix(i) in prefixes}


#: Trial statuses in Ray's state that a resume continues (a finished trial is not run again).
_CONTINUED = {RAY_PENDING, RAY_RUNNING, RAY_PAUSED, RAY_ERROR}


def drop_gone_checkpoints(path: str) -> list[str]:
    """Make the saved state of the experiment at ``path`` name no checkpoint that is gone.

    Ray deletes a trial's superseded checkpoint when it registers the next one and saves its
    state a moment later; a driver killed in between leaves a state whose trial would fail
    on resume with "Could not recover from checkpoint". Each such unfinished trial is set to
    continue from its newest checkpoint still on storage, or to start again (tfcli's MLflow
    writer skips the steps the trial's run already holds). Returns one line per trial changed.
    """
    if is_uri(path):
        return []
    folder = Path(path)
    state_file = _newest_state(folder)
    if state_file is None:
        return []
    state = json.loads(state_file.read_text(encoding="utf-8"))
    changed = []
    for entry in state["trial_data"]:
        trial = json.loads(entry[0]) if isinstance(entry[0], str) else entry[0]
        if trial.get("status") not in _CONTINUED:
            continue
        repaired = without_gone_checkpoints(entry[1], lambda p: _checkpoint_here(folder, p).is_dir())
        if repaired is None:
            continue
        entry[1], gone, kept = repaired
        where = f"continues from {Path(kept).name}" if kept else "starts again"
        changed.append(f"trial {trial['trial_id']}: its checkpoint {Path(gone).name} is gone (the driver stopped as Ray replaced it); it {where}")
    if changed:
        staged = state_file.with_suffix(".repair")
        staged.write_text(json.dumps(state), encoding="utf-8")
        os.replace(staged, state_file)
    return changed


def _checkpoint_here(folder: Path, checkpoint_path: str) -> Path:
    """A checkpoint's folder under this experiment folder (the study may have been moved)."""
    recorded = Path(checkpoint_path)
    return folder / recorded.parent.name / recorded.name


def _search_states(folder: Path) -> list[Path]:
    """The newest saved state of each kind of search algorithm (what Tune restores)."""
    newest = (max(folder.glob(g), key=lambda p: p.name, default=None) for g in SEARCH_STATE_GLOBS)
    return [p for p in newest if p is not None]


def _whole(path: Path) -> bool:
    """Whether a state file was written to its end: the experiment state's JSON parses; a search
    state, a pickle, reads as whole opcodes up to a STOP on its last byte (read by
    ``pickletools``, which runs nothing; a copy cut short ends mid-opcode or without the STOP)."""
    try:
        data = path.read_bytes()
    except OSError:
        return False
    if path.match(STATE_GLOB):
        try:
            json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return False
        return True
    try:
        *_, (opcode, _arg, position) = pickletools.genops(data)
    except Exception:  # noqa: BLE001 - any unreadable opcode stream is a torn file
        return False
    return opcode.name == "STOP" and position == len(data) - 1


def restore_torn_state(path: str) -> list[str]:
    """Put back, from Ray's staged copies on this machine, state files a killed driver left torn.

    Tune writes the experiment's state to a staging folder and then copies it to the storage
    path with a plain write; a driver killed during that copy leaves the file there cut short
    (CI saw an empty search state: "EOFError: Ran out of input", then Tune quietly started
    afresh). The staged file of the same name is whole: it is copied in by rename. Returns a
    line per file put back; what cannot be put back is left to :func:`ray_state_problem`.
    """
    if is_uri(path):
        return []
    folder = Path(path)
    newest_state = _newest_state(folder)
    candidates = ([newest_state] if newest_state is not None else []) + _search_states(folder)
    restored = []
    for torn in (p for p in candidates if not _whole(p)):
        staged = next((p for p in staged_state_files(folder.name, torn.name) if _whole(p)), None)
        if staged is None:
            continue
        copy = torn.with_name(f".{torn.name}.restoring")
        copy.write_bytes(staged.read_bytes())
        os.replace(copy, torn)
        restored.append(f"{torn.name} was cut short when the driver stopped; put back from Ray's staged copy")
    return restored
