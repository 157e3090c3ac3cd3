"""The study file: pydantic models for every section, with defaults.

Only the structure and per-field rules live here. Rules that relate several fields (a search
path must name a field, heads must divide d_model for every value the space can produce, the
objective must be a metric of the task) live in :mod:`tfcli.spec.rules`, and reading YAML
with line numbers lives in :mod:`tfcli.spec.load`. No Ray, MLflow or torch here.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, PrivateAttr, Tag, field_validator, model_validator

from tfcli.spec.architecture import ACTIVATIONS, MODEL_DEFAULTS, NORMS, POOLINGS, POSITIONALS
from tfcli.spec.tasks import EARLY_SIGNAL_METRIC, FLAT_EARLY_METRICS, TASKS


class Section(BaseModel):
    """A section of a study file: unknown keys are errors, so a typo cannot pass silently."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


class DataFiles(Section):
    """User data in local files; relative paths are resolved against the study file's folder."""

    train: str
    valid: Optional[str] = None
    test: Optional[str] = None
    format: Optional[Literal["tsv", "jsonl", "csv"]] = Field(
        None, description="File format; inferred from the suffix when omitted."
    )
    columns: dict[str, str] = Field(
        default_factory=dict, description="CSV column mapping, e.g. {source: de, target: en}."
    )


def _data_kind(value: Any) -> str:
    return "files" if isinstance(value, (dict, DataFiles)) else "ref"


DataSource = Annotated[
    Union[Annotated[str, Tag("ref")], Annotated[DataFiles, Tag("files")]],
    Discriminator(_data_kind),
]


class TaskSpec(Section):
    type: Literal["translation", "summarization", "classification", "qa"]
    data: DataSource = Field(description="builtin:NAME, or a mapping of train/valid/test file paths.")

    @field_validator("data")
    @classmethod
    def _builtin_form(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.startswith("builtin:"):
            raise ValueError(
                f"must be 'builtin:NAME' or a mapping with train/valid/test paths, but got {value!r}"
            )
        return value

    @property
    def builtin_name(self) -> str | None:
        return self.data.split(":", 1)[1] if isinstance(self.data, str) else None


class ModelSpec(Section):
    """The Transformer's architecture; every field is a searchable hyperparameter."""

    d_model: int = Field(MODEL_DEFAULTS["d_model"], ge=8, le=8192)
    heads: int = Field(MODEL_DEFAULTS["heads"], ge=1, le=256)
    encoder_layers: int = Field(MODEL_DEFAULTS["encoder_layers"], ge=1, le=64)
    decoder_layers: int = Field(MODEL_DEFAULTS["decoder_layers"], ge=1, le=64, description="Encoder-decoder tasks only.")
    ffn_dim: int = Field(MODEL_DEFAULTS["ffn_dim"], ge=8, le=65536)
    dropout: float = Field(MODEL_DEFAULTS["dropout"], ge=0.0, lt=1.0)
    attention_dropout: float = Field(MODEL_DEFAULTS["attention_dropout"], ge=0.0, lt=1.0)
    activation: Literal[ACTIVATIONS] = MODEL_DEFAULTS["activation"]
    positional: Literal[POSITIONALS] = MODEL_DEFAULTS["positional"]
    norm: Literal[NORMS] = MODEL_DEFAULTS["norm"]
    tie_embeddings: bool = MODEL_DEFAULTS["tie_embeddings"]
    pooling: Literal[POOLINGS] = Field(MODEL_DEFAULTS["pooling"], description="Classification only.")
    max_length: int = Field(MODEL_DEFAULTS["max_length"], ge=8, le=16384, description="Longest sequence the model accepts.")


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(text: str | int | float) -> float:
    """Seconds in ``90``, ``90s``, ``30m``, ``2h`` or ``1.5d``."""
    if isinstance(text, bool):
        raise ValueError(f"must be a duration such as 90s, 30m or 2h, but got {text!r}")
    if isinstance(text, (int, float)):
        seconds = float(text)
    else:
        match = _DURATION.match(str(text))
        if not match:
            raise ValueError(f"must be a duration such as 90s, 30m or 2h, but got {text!r}")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(f"must be a positive duration, but got {text!r}")
    return seconds


def _duration_text(value: Any) -> Any:
    """A duration field keeps the user's text (``30m``) once :func:`parse_duration` accepts it."""
    if value is None:
        return None
    parse_duration(value)
    return str(value)


Duration = Annotated[Optional[str], BeforeValidator(_duration_text)]


class TrainSpec(Section):
    lr: float = Field(5.0e-4, gt=0.0, le=10.0)
    schedule: Literal["inverse_sqrt", "cosine", "linear", "constant"] = "inverse_sqrt"
    warmup_steps: int = Field(200, ge=0)
    batch_tokens: int = Field(2048, ge=16)
    grad_accum: int = Field(1, ge=1, le=1024)
    max_steps: int = Field(1500, ge=1)
    max_time: Duration = Field(
        None,
        description="Wall-clock budget of one training run (90s, 30m, 2h): it ends at the first step past it, "
        "with a final evaluation. The learning-rate schedule still spans max_steps.",
    )
    eval_every: int = Field(250, ge=1)
    log_every: Optional[int] = Field(
        None, ge=1, description="Steps between train_loss points in a trial's history (default: at evaluations only)."
    )
    label_smoothing: float = Field(0.1, ge=0.0, lt=1.0)
    weight_decay: float = Field(0.01, ge=0.0)
    grad_clip: float = Field(1.0, ge=0.0, description="Max gradient norm; 0 turns clipping off.")
    adam_beta1: float = Field(0.9, ge=0.0, lt=1.0)
    adam_beta2: float = Field(0.98, ge=0.0, lt=1.0)
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    compile: bool = False
    seed: int = 1


#: The longest line of a data file, in characters, unless ``data.max_line_length`` says otherwise.
DEFAULT_MAX_LINE_LENGTH = 100_000


class DataSpec(Section):
    """How the task's data is prepared: tokenizer, lengths, and built-in set sizes."""

    tokenizer: Literal["bpe", "unigram"] = "bpe"
    vocab_size: int = Field(1000, ge=64, le=256000)
    lowercase: bool = False
    max_source_length: int = Field(128, ge=4)
    max_target_length: int = Field(64, ge=2)
    train_size: Optional[int] = Field(None, ge=1, description="Built-in sets: training examples.")
    valid_size: Optional[int] = Field(None, ge=1)
    test_size: Optional[int] = Field(None, ge=1)
    seed: int = Field(0, description="Seed of the built-in generators and of carved splits.")
    max_line_length: int = Field(
        DEFAULT_MAX_LINE_LENGTH,
        ge=1,
        description="Data files: refuse a line (or a CSV field) longer than this many characters.",
    )


class EvalSpec(Section):
    beam_size: int = Field(1, ge=1, le=64)
    length_penalty: float = Field(1.0, ge=0.0)
    max_decode_length: Optional[int] = Field(None, ge=1, description="Defaults to data.max_target_length.")
    batch_size: int = Field(64, ge=1)
    max_examples: Optional[int] = Field(
        None, ge=1, description="Evaluate on at most this many validation examples during training."
    )
    bleu_tokenize: Literal["13a", "zh", "ja-mecab", "ko-mecab", "char", "none", "intl"] = "13a"
    rouge_tokenizer: Literal["auto", "default", "cjk", "whitespace"] = "auto"
    bootstrap_resamples: int = Field(1000, ge=10)
    # sacrebleu's and rouge-score's own options, by their names (tfcli score takes them as flags)
    bleu_smooth_method: Literal["exp", "floor", "add-k", "none"] = "exp"
    bleu_smooth_value: Optional[float] = Field(None, ge=0.0)
    bleu_max_ngram_order: int = Field(4, ge=1)
    bleu_lowercase: bool = False
    bleu_effective_order: bool = False
    chrf_char_order: int = Field(6, ge=0)
    chrf_word_order: int = Field(0, ge=0, description="2 is chrF++.")
    chrf_beta: int = Field(2, ge=0)
    chrf_eps_smoothing: bool = False
    chrf_lowercase: bool = Field(False, description="Lowercase before chrF (tfcli score: --lowercase, with BLEU's).")
    chrf_whitespace: bool = Field(False, description="Keep whitespace in chrF's character n-grams.")
    ter_case_sensitive: bool = False
    ter_no_punct: bool = False
    ter_normalized: Optional[bool] = Field(None, description="Default: on for the CJK tokenizers.")
    ter_asian_support: Optional[bool] = Field(None, description="Default: on for the CJK tokenizers.")
    rouge_use_stemmer: bool = Field(
        True,
        description="Porter stemming; on by default in tfcli (rouge-score's default is off), as ROUGE-1.5.5's -m "
        "that summarization papers report, and as studies have always scored.",
    )
    rouge_split_summaries: bool = Field(
        False, description="ROUGE-Lsum splits sentences with NLTK's Punkt (needs its punkt_tab data), not on newlines."
    )
    classification_labels: Optional[list[str]] = Field(None, description="The labels averaged over (default: those seen).")
    zero_division: Literal[0, 1] = 0
    pos_label: Optional[str] = Field(None, description="Binary precision/recall/F1 of this label.")
    qa_rules: Literal["squad_v1", "squad_v2"] = Field(
        "squad_v1", description="squad_v1: the official v1.1 script; squad_v2: unanswerable questions too."
    )


class ObjectiveSpec(Section):
    metric: str
    mode: Optional[Literal["max", "min"]] = None


def _objective_kind(value: Any) -> str:
    return "several" if isinstance(value, list) else "single"


Objectives = Annotated[
    Union[Annotated[ObjectiveSpec, Tag("single")], Annotated[list[ObjectiveSpec], Tag("several")]],
    Discriminator(_objective_kind),
]

#: The tags of the unions above: pydantic puts them in an error's location; messages leave them out.
UNION_TAGS = ("ref", "files", "single", "several")


ParamDistribution = Literal["uniform", "log_uniform", "int_uniform", "q_uniform", "q_log_uniform"]


class ParamSpec(Section):
    """One searched parameter, W&B sweep style: ``value``, ``values`` or a ``distribution``."""

    value: Any = None
    values: Optional[list[Any]] = None
    distribution: Optional[ParamDistribution] = None
    min: Optional[float] = None
    max: Optional[float] = None
    q: Optional[float] = None
    when: Optional[dict[str, Any]] = Field(
        None,
        description="Search this parameter only when another searched values parameter takes one of the given "
        "values, e.g. {train.schedule: inverse_sqrt} or {train.schedule: [inverse_sqrt, linear]}; otherwise the "
        "trial keeps the study's setting of the field.",
    )

    @property
    def kind(self) -> str:
        if self.distribution is not None:
            return "distribution"
        if self.values is not None:
            return "values"
        return "value"


#: Search methods. random/grid: Tune's variant generator; the others: Optuna samplers through
#: Ray Tune's OptunaSearch (tpe: TPESampler, gp: GPSampler, cmaes: CmaEsSampler, qmc: QMCSampler
#: with a scrambled Sobol sequence, nsga2: NSGAIISampler).
SearchMethod = Literal["random", "grid", "tpe", "gp", "cmaes", "qmc", "nsga2"]


class WarmStartSpec(Section):
    study: str = Field(
        ..., min_length=1,
        description="A finished study of the same store, task and objectives whose finished trials the searcher "
        "is told before the first trial (those whose values fit this study's space).",
    )


class SearchSpec(Section):
    method: SearchMethod = Field(
        "random",
        description="random, grid, or an Optuna sampler: tpe, gp (Gaussian process), cmaes (CMA-ES; numeric "
        "parameters only), qmc (scrambled Sobol), nsga2 (NSGA-II).",
    )
    num_samples: int = Field(1, ge=1, le=100000, description="Trials; under grid, repeats of the grid.")
    max_concurrent: Optional[int] = Field(None, ge=1)
    seed: Optional[int] = Field(
        None, ge=0, description="Seed of the searcher. Default: a fresh random seed, drawn when the study starts, printed and recorded."
    )
    parameters: dict[str, ParamSpec] = Field(default_factory=dict)
    initial: Optional[list[dict[str, Any]]] = Field(
        None,
        description="Known starting points, run as the first trials when the study starts (not on resume or "
        "extend): each maps searched parameters to values, e.g. {train.lr: 1.0e-3, model.d_model: 128}. A point "
        "may leave parameters out; the searcher fills them. Not with method grid.",
    )
    warm_start: Optional[WarmStartSpec] = Field(
        None, description="Seed the searcher with another study's finished trials: {study: NAME}. tpe, gp, cmaes, nsga2."
    )
    constraints: list[str] = Field(
        default_factory=list,
        description="Limits a configuration must keep, each METRIC <= BOUND or METRIC >= BOUND on any metric the "
        "evaluations log, e.g. [\"decode_ms_per_example <= 5\", \"parameters <= 2e6\"]. The searcher (tpe, gp, "
        "nsga2) learns them; a trial that breaks one is infeasible: reported apart and never the best, exported or on "
        "the Pareto front. A configuration over a limit on parameters trains no step.",
    )


#: Schedulers that stop trials at rungs: under an objective that is flat early they act on
#: the validation loss unless ``scheduler.metric`` says otherwise (PBT exploits by the objective).
LOSS_FIRST_SCHEDULERS = ("asha", "hyperband")


class SchedulerSpec(Section):
    type: Literal["fifo", "asha", "hyperband", "pbt"] = "fifo"
    metric: Optional[str] = Field(
        None,
        description="The metric asha, hyperband and pbt stop or exploit on, in its own direction: one of the "
        "objectives, or any metric the evaluations log; needed when the study has several objectives. Default: "
        "the objective; for asha and hyperband under a generation metric that is flat early (bleu, chrf, rouge*, "
        "ter, meteor, exact_match), loss, which ranks trials from the first evaluation, when BLEU is still 0 for all.",
    )
    grace_period: Optional[int] = Field(None, ge=1, description="Training steps before a trial can be stopped.")
    reduction_factor: float = Field(3.0, gt=1.0)
    max_t: Optional[int] = Field(None, ge=1, description="Defaults to train.max_steps.")
    brackets: int = Field(1, ge=1)
    perturbation_interval: Optional[int] = Field(None, ge=1, description="PBT: steps between exploits.")
    quantile_fraction: float = Field(0.25, gt=0.0, le=0.5)
    resample_probability: float = Field(0.25, ge=0.0, le=1.0)
    mutations: Optional[list[str]] = Field(
        None, description="PBT: parameters to perturb; defaults to every searched parameter."
    )


class ResourcesSpec(Section):
    cpu: float = Field(1.0, gt=0.0)
    gpu: float = Field(0.0, ge=0.0)


class TargetSpec(Section):
    metric: str = Field(description="An objective, or any metric the evaluations log; reached in its direction.")
    value: float = Field(description="The value that ends the study once a trial reports it (or better).")


class BudgetSpec(Section):
    time: Duration = Field(None, description="Wall-clock limit of the study: 90s, 30m, 2h.")
    max_failures: int = Field(0, ge=0, le=100, description="Retries of a failed trial from its last checkpoint.")
    target: Optional[TargetSpec] = Field(
        None,
        description="End the study as soon as a trial reports this value of the metric or better, e.g. "
        "{metric: bleu, value: 30}; trials still running are stopped.",
    )
    patience: Optional[int] = Field(
        None, ge=1, le=100000,
        description="End the study after this many trials in a row end without beating the study's best "
        "(by the first objective); trials still running are stopped.",
    )

    @property
    def time_seconds(self) -> float | None:
        return parse_duration(self.time) if self.time is not None else None


class ReportSpec(Section):
    test_top: int = Field(
        5, ge=0, le=100,
        description="When a study ends, score the best checkpoints of its top K trials on the test split (0: never).",
    )


class StudySpec(Section):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$", description="The MLflow experiment name.")
    description: Optional[str] = None
    task: TaskSpec
    model: ModelSpec = Field(default_factory=ModelSpec)
    train: TrainSpec = Field(default_factory=TrainSpec)
    data: DataSpec = Field(default_factory=DataSpec)
    eval: EvalSpec = Field(default_factory=EvalSpec)
    objective: Optional[Objectives] = Field(
        None,
        description="What a trial is ranked by: {metric, mode}, or a list of them for a Pareto front "
        "(the first ranks trials and picks checkpoints). Default: the task's metric.",
    )
    search: SearchSpec = Field(default_factory=SearchSpec)
    scheduler: SchedulerSpec = Field(default_factory=SchedulerSpec)
    resources: ResourcesSpec = Field(default_factory=ResourcesSpec)
    budget: BudgetSpec = Field(default_factory=BudgetSpec)
    report: ReportSpec = Field(default_factory=ReportSpec)

    _source_file: Optional[str] = PrivateAttr(None)
    _base_dir: Optional[str] = PrivateAttr(None)

    @property
    def source_file(self) -> Optional[str]:
        """The study file this spec was read from, for messages; None when built in code."""
        return self._source_file

    @property
    def base_dir(self) -> Optional[str]:
        """The folder relative data paths are resolved against (the study file's folder)."""
        return self._base_dir

    def located(self, base_dir: Optional[str], source_file: Optional[str] = None) -> "StudySpec":
        """This spec, placed: relative data paths resolve against ``base_dir``.

        The one way to set where a study file lives; a spec that travels (to a Ray worker, into
        MLflow and back) carries it through :func:`tfcli.spec.trial.study_payload`.
        """
        self._base_dir = str(base_dir) if base_dir else None
        self._source_file = str(source_file) if source_file else None
        return self

    def resolve_path(self, path: str) -> str:
        """A data path from the study file, resolved against the study file's folder."""
        candidate = Path(path).expanduser()
        if candidate.is_absolute() or self._base_dir is None:
            return str(candidate)
        return str(Path(self._base_dir) / candidate)

    def with_overrides(self, overrides: dict[str, Any]) -> "StudySpec":
        """A copy with ``{"train.lr": 1e-3, ...}`` applied to the searchable sections, validated.

        Raises :class:`pydantic.ValidationError` for a bad value and ``KeyError`` for a path
        that names no field; callers turn those into user errors with their own context.
        """
        data = self.model_dump(mode="python")
        for path, value in overrides.items():
            section, _, name = path.partition(".")
            if section not in SEARCHABLE_SECTIONS or name not in SEARCHABLE_SECTIONS[section].model_fields:
                raise KeyError(path)
            data[section][name] = value
        return StudySpec.model_validate(data).located(self._base_dir, self._source_file)

    def with_search_seed(self) -> "StudySpec":
        """This spec with ``search.seed`` set: the study file's, or a fresh random one, drawn once
        when a study starts (or is dry-run) and stored with it, so the study can be repeated."""
        if self.search.seed is not None:
            return self

        search = self.search.model_copy(update={"seed": secrets.randbelow(2**31)})
        return self.model_copy(update={"search": search})

    @property
    def objectives(self) -> list[ObjectiveSpec]:
        """Every objective, in the study file's order (one for a single-objective study)."""
        return list(self.objective) if isinstance(self.objective, list) else [self.objective]

    @property
    def primary_objective(self) -> ObjectiveSpec:
        """The first objective: it ranks trials, picks each trial's best checkpoint, and is what
        ``tfcli train``, exports and confirmations compare."""
        return self.objectives[0]

    @property
    def scheduler_objective(self) -> ObjectiveSpec:
        """What asha, hyperband and pbt act on: ``scheduler.metric`` (an objective, with its mode,
        or another metric the evaluations log, in that metric's direction); else, for asha and
        hyperband under an objective that is flat early (BLEU, chrF, ROUGE, TER, METEOR, exact
        match), the validation loss; else the first objective. Trials are still ranked, and
        checkpoints kept, by the first objective."""
        metric = self.scheduler.metric
        if metric is None and self.scheduler.type in LOSS_FIRST_SCHEDULERS and self.primary_objective.metric in FLAT_EARLY_METRICS:
            metric = EARLY_SIGNAL_METRIC
        for objective in self.objectives:
            if objective.metric == metric:
                return objective
        if metric is not None:
            return ObjectiveSpec(metric=metric, mode=TASKS[self.task.type].default_mode(metric))
        return self.primary_objective

    @model_validator(mode="after")
    def _fill_objective(self) -> "StudySpec":
        info = TASKS[self.task.type]
        if self.objective is None:
            self.objective = ObjectiveSpec(metric=info.default_metric, mode=info.default_mode())
        for objective in self.objectives:
            if objective.mode is None:
                objective.mode = info.default_mode(objective.metric)
        return self


#: The sections whose fields a search can name, as ``section.field``.
SEARCHABLE_SECTIONS: dict[str, type[Section]] = {
    "model": ModelSpec,
    "train": TrainSpec,
    "data": DataSpec,
    "eval": EvalSpec,
}
