"""The names tfcli writes into MLflow: tags, roles, artifacts, result keys, and size limits.

Every module of :mod:`tfcli.tracking` writes and reads runs by these names; the rest of tfcli
reads them through the package (``tr.TAG_STUDY_ID``, ``tr.CHECKPOINT_ARTIFACT_PATH``, ...).
"""

from tfcli.spec.objective import HPARAM_METRIC_PREFIX  # noqa: F401  (the prefix is a rule of what counts as a result)

TAG_STUDY_ID = "tfcli.study_id"
TAG_STUDY_NAME = "tfcli.study_name"
TAG_ROLE = "tfcli.role"  # study | trial | train
TAG_TRIAL_ID = "tfcli.trial_id"
TAG_TRIAL_NUMBER = "tfcli.trial_number"  # child: 0, 1, ... in start order across the whole study
TAG_TRIAL_NAME = "tfcli.trial_name"  # Ray's trial name, e.g. train_fn_3c2a1_00002
TAG_EXPERIMENT_TAG = "tfcli.experiment_tag"  # Ray's tag, e.g. 2_train.lr=0.0003
TAG_TASK = "tfcli.task"
TAG_OBJECTIVE_METRIC = "tfcli.objective_metric"
TAG_OBJECTIVE_MODE = "tfcli.objective_mode"
TAG_OBJECTIVE_VALUE = "tfcli.objective_value"  # child: objective at the logged checkpoint
TAG_OBJECTIVE_STEP = "tfcli.objective_step"
TAG_CHECKPOINT = "tfcli.checkpoint"  # child: artifact path of the logged checkpoint
TAG_CHECKPOINT_STEP = "tfcli.checkpoint_step"
TAG_LAST_STEP = "tfcli.last_step"  # child: the last step whose metrics were logged
TAG_STOPPED_EARLY = "tfcli.stopped_early"
TAG_STATE = "tfcli.state"  # child: running | finished | stopped | failed | killed (records.TrialState)
TAG_STOP_REASON = "tfcli.stop_reason"  # scheduler | time_budget | target | patience (records.state)
TAG_STUDY_STOPPED = "tfcli.study_stopped"  # parent: target | patience when the study's budget ended it early
TAG_STUDY_STOP_NOTE = "tfcli.study_stop_note"  # parent: why, in the words the summary prints
TAG_INFEASIBLE = "tfcli.infeasible"  # child: the search.constraints it broke, with the values (spec.constraints.broken)
TAG_ERROR = "tfcli.error"  # child: the failure's last line; full text in error.txt
TAG_NUM_FAILURES = "tfcli.num_failures"
TAG_CONFIG = "tfcli.config"  # child: JSON of the searched values the trial started with
TAG_CONFIG_FINAL = "tfcli.config_final"
TAG_CONFIG_CHANGES = "tfcli.config_changes"
TAG_SPEC = "tfcli.spec_json"  # parent, stores written before 2026-12: the resolved spec (now only spec.json)
TAG_SEARCH_SEED = "tfcli.search_seed"  # parent: search.seed, drawn at start when the study file gave none
TAG_GIT_COMMIT = "tfcli.git_commit"
TAG_GIT_DIRTY = "tfcli.git_dirty"
TAG_HOST = "tfcli.host"
TAG_RAY_ADDRESS = "tfcli.ray_address"
TAG_VERSION_PREFIX = "tfcli.version."  # tfcli.version.torch, ...
TAG_PARENT_RUN = "mlflow.parentRunId"
TAG_RUN_NAME = "mlflow.runName"
TAG_MLFLOW_GIT_COMMIT = "mlflow.source.git.commit"
TAG_MLFLOW_USER = "mlflow.user"
TAG_PARAMETERS = "tfcli.parameters"  # a run's parameter count, when its writer knew it
TAG_EXPORT_SOURCE_RUN = "tfcli.source_run_id"  # a logged model: the trial run it came from
TAG_PHASE = "tfcli.phase"  # parent: "starting" until Ray has the study (see tracking.claims)
TAG_SEARCHED = "tfcli.searched"  # child: JSON list of the parameters the search set (the rest are the study's)
TAG_BEST_TRIAL = "tfcli.best_trial"  # parent: the best trial so far, with its run id and values below
TAG_BEST_RUN_ID = "tfcli.best_run_id"
TAG_BEST_VALUE_PREFIX = "best."  # parent: best.train.lr = the best trial's searched value
TAG_NOTE = "mlflow.note.content"  # a run's description in MLflow's UI
TAG_SUPERSEDED = "tfcli.superseded"  # child: why `resume --rebuild` replaced (and deleted) it

PHASE_STARTING = "starting"
PHASE_RUNNING = "running"

#: Result keys of a trial's last report when it failed in a way no retry can fix
#: (divergence, out of memory); see :mod:`tfcli.study.runner`.
FAILURE_RESULT_KEY = "tfcli_failure"
FAILURE_MESSAGE_RESULT_KEY = "tfcli_failure_message"

ROLE_STUDY = "study"
ROLE_TRIAL = "trial"
ROLE_TRAIN = "train"
ROLE_CONFIRMATION = "confirmation"  # a child run that retrains a trial's configuration with a fresh seed
TRIAL_ROLES = (ROLE_TRIAL, ROLE_CONFIRMATION)

TAG_CONFIRMS = "tfcli.confirms"  # confirmation child: the trial id whose configuration it retrains
TAG_CONFIRM_SEED = "tfcli.confirm_seed"  # confirmation child: its train.seed

CHECKPOINT_ARTIFACT_PATH = "checkpoint"
VALID_OUTPUTS_FILE = "valid_outputs.jsonl"
STUDY_FILE_ARTIFACT = "study.yaml"
SPEC_ARTIFACT = "spec.json"
ERROR_ARTIFACT = "error.txt"
CONFIG_HISTORY_ARTIFACT = "config_history.json"
REPORT_ARTIFACT = "report.html"

#: Keys Ray Tune adds to every result; they are bookkeeping, not metrics.
RAY_RESULT_KEYS = frozenset(
    {
        "done", "should_checkpoint", "checkpoint_dir_name", "trial_id", "experiment_id",
        "experiment_tag", "training_iteration", "time_total_s", "time_this_iter_s",
        "time_since_restore", "timesteps_total", "timesteps_this_iter", "timesteps_since_restore",
        "episodes_total", "episodes_this_iter", "iterations_since_restore", "timestamp", "date",
        "pid", "hostname", "node_ip", "config", "__duplicate__", "__trial_info__",
        "__stdout_file__", "__stderr_file__",
    }
)
#: The result key that carries the training step (the x axis of every metric).
STEP_KEY = "step"

#: MLflow's limits: the length of a tag value and of a param value; metrics, and params or
#: tags, in one ``log_batch`` call.
MAX_TAG_VALUE = 8000
MAX_PARAM_VALUE = 6000
MAX_METRICS_PER_BATCH = 1000
MAX_TAGS_PER_BATCH = 100


def tag_field(key: str) -> str:
    """The tag ``key`` as a field of a ``search_runs`` filter string."""
    return f"tags.`{key}`"
