"""``tfcli score``: score a file of outputs with the metrics studies use, or test two systems.

The command parses its options, reads the files with :mod:`tfcli.data.readers`, calls
:mod:`tfcli.metrics` and renders what comes back; it decides nothing about a score itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from tfcli.cli.output import OutputFormat, console, print_json
from tfcli.data.readers import ScoreInputs, read_score_inputs
from tfcli.metrics import MetricSettings, compute_metrics, paired_bootstrap_many, pin_settings, resolve_metrics, sentence_scores
from tfcli.metrics.notes import STEMMING_DEFAULT_NOTE

HELP = f"""Score a file of outputs with the same metrics (and code) that studies use.

\b
Input files, one example per line, UTF-8:
  translation, summarization: plain text, one segment per line. Repeat --ref for several
    references; a blank line in the second or a later --ref file means "no reference here".
  classification: JSONL; each line a JSON string or integer, or {{"label": ...}}
    ({{"prediction": ...}} is also read in --hyp).
  qa: JSONL; --hyp lines a JSON string or {{"prediction": "..."}}; --ref lines a list of gold
    answers, a string, or {{"answers": [...]}} (SQuAD's {{"answers": {{"text": [...]}}}} works too).
    An empty list marks an unanswerable question (with --qa-rules squad_v2). Several --ref
    files add answers. When the --ref lines carry an "id", --hyp may be keyed by id too:
    lines {{"id": ..., "prediction": ...}}, or one JSON object {{id: answer}} (the official
    SQuAD predictions file); a question whose id is missing counts as unanswered (0); an
    empty answer "" is scored like any answer, as the official script does.

\b
Metric options take sacrebleu's, rouge-score's and scikit-learn's names and defaults
(one default differs, see below):
  BLEU --smooth-method --smooth-value --max-ngram-order --lowercase --effective-order;
  chrF --char-order --word-order (2: chrF++) --beta --eps-smoothing --lowercase --whitespace;
  TER --case-sensitive --no-punct --normalized --asian-support; ROUGE --no-use-stemmer
  --split-summaries (precision and recall are reported beside F); classification --labels
  --zero-division --pos-label; qa --qa-rules squad_v1 (the official v1.1 script, default)
  or squad_v2. --sentence-level adds sacrebleu's per-line BLEU/chrF/TER (use
  --effective-order for BLEU).

Where tfcli's default differs from the library's: ROUGE {STEMMING_DEFAULT_NOTE}; turn it
off with --no-use-stemmer to score as rouge-score does by default.

With --against FILE, both systems are scored and each metric gets a paired bootstrap test:
A is the --against file, B the --hyp file, and the difference is B - A.
"""

_BLEU_TOKENIZE_HELP = "sacrebleu tokenizer for BLEU and METEOR: 13a (default), intl, zh, char, none, ja-mecab, ko-mecab."
_ROUGE_TOKENIZER_HELP = (
    "ROUGE tokenizer: auto (the default; cjk when the texts hold CJK characters), default (rouge-score's, "
    "ASCII only), cjk (CJK characters one by one, Unicode words elsewhere) or whitespace."
)


TaskOpt = Annotated[str, typer.Option("--task", "-t", metavar="TASK", help="translation, summarization, classification or qa.")]
HypOpt = Annotated[Path, typer.Option("--hyp", metavar="FILE", help="System outputs, one example per line.")]
RefOpt = Annotated[list[Path], typer.Option("--ref", metavar="FILE", help="References; repeat for several references per example.")]
MetricOpt = Annotated[
    Optional[list[str]],
    typer.Option("--metric", "-m", metavar="METRIC", help="A metric to compute (repeat, or separate with commas); default: all of the task's."),
]
AgainstOpt = Annotated[
    Optional[Path],
    typer.Option("--against", metavar="FILE", help="A baseline's outputs (A): run a paired bootstrap test of --hyp (B) against it."),
]
FormatOpt = Annotated[OutputFormat, typer.Option("--format", "-f", help="table for people, json for scripts.")]
SentenceSepOpt = Annotated[
    Optional[str],
    typer.Option("--sentence-sep", metavar="TEXT", help="Text that separates sentences within a line (e.g. '<n>'); ROUGE-Lsum splits on it."),
]

#: Each metric option and the MetricSettings field(s) it sets; options left out stay None.
SETTING_OF_OPTION: dict[str, tuple[str, ...]] = {
    "bleu_tokenize": ("bleu_tokenize",),
    "rouge_tokenizer": ("rouge_tokenizer",),
    "resamples": ("bootstrap_resamples",),
    "seed": ("bootstrap_seed",),
    "smooth_method": ("bleu_smooth_method",),
    "smooth_value": ("bleu_smooth_value",),
    "max_ngram_order": ("bleu_max_ngram_order",),
    "lowercase": ("bleu_lowercase", "chrf_lowercase"),
    "effective_order": ("bleu_effective_order",),
    "char_order": ("chrf_char_order",),
    "word_order": ("chrf_word_order",),
    "beta": ("chrf_beta",),
    "eps_smoothing": ("chrf_eps_smoothing",),
    "whitespace": ("chrf_whitespace",),
    "case_sensitive": ("ter_case_sensitive",),
    "no_punct": ("ter_no_punct",),
    "normalized": ("ter_normalized",),
    "asian_support": ("ter_asian_support",),
    "use_stemmer": ("rouge_use_stemmer",),
    "split_summaries": ("rouge_split_summaries",),
    "labels": ("classification_labels",),
    "zero_division": ("zero_division",),
    "pos_label": ("pos_label",),
    "qa_rules": ("qa_rules",),
}


def _settings(options: dict[str, Any]):
    """The validated :class:`MetricSettings` of the given options (library defaults for the rest)."""
    given = {}
    for option, names in SETTING_OF_OPTION.items():
        value = options[option]
        if option == "labels":
            value = tuple(_split_metric_options(value) or ()) if value else None
        if value is not None:
            given.update(dict.fromkeys(names, value))
    settings = MetricSettings(**given)
    settings.validate()
    return settings


def _fmt(value: float) -> str:
    return f"{value:.2f}"


def _plain(text: object) -> str:
    """User text (file names, labels) shown as is, never read as Rich markup."""
    return escape(str(text))


def _print_scores(result, task: str, hyp: Path, n: int) -> None:
    table = Table(title=f"{task}: {n} examples, {_plain(hyp)}", title_justify="left")
    table.add_column("metric")
    table.add_column("score", justify="right")
    table.add_column("signature", overflow="fold")
    for name, value in result.scores.items():
        table.add_row(name, _fmt(value), result.signatures[name])
    out = console()
    out.print(table)
    _print_per_class(out, result.details)
    _print_rouge(out, result.details)
    _print_notes(out, result.notes)


def _print_per_class(out, details: dict) -> None:
    if "per_class" not in details:
        return
    table = Table(title="per class", title_justify="left")
    for column in ("label", "precision", "recall", "f1", "support", "predicted"):
        table.add_column(column, justify="left" if column == "label" else "right")
    for label, s in details["per_class"].items():
        table.add_row(_plain(label), _fmt(s["precision"]), _fmt(s["recall"]), _fmt(s["f1"]), str(s["support"]), str(s["predicted"]))
    out.print(table)


def _print_notes(out, notes: list[str]) -> None:
    for note in notes:
        out.print(f"note: {note}", markup=False)


def _print_comparison(result_a, result_b, tests: dict, against: Path, hyp: Path, task: str, n: int) -> None:
    table = Table(title=f"{task}: {n} examples, A = {_plain(against)}, B = {_plain(hyp)}", title_justify="left")
    for column in ("metric", "A", "B", "B - A", "95% CI of B - A", "p", "significant"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for name, test in tests.items():
        b_better = test.diff < 0 if test.lower_is_better else test.diff > 0
        verdict = ("yes, B better" if b_better else "yes, B worse") if test.significant else "no"
        table.add_row(
            name, _fmt(test.score_a), _fmt(test.score_b), f"{test.diff:+.2f}",
            f"[{test.ci_low:+.2f}, {test.ci_high:+.2f}]", f"{test.p_value:.4f}", verdict,
        )
    out = console()
    out.print(table)
    first = next(iter(tests.values()))
    out.print(f"paired bootstrap: {first.n_resamples} resamples, seed {first.seed}, significant at p < 0.05", markup=False)
    for name, signature in result_b.signatures.items():
        out.print(f"{name}: {signature}", markup=False)
    _print_notes(out, _comparison_notes(result_a.notes, result_b.notes))


def _comparison_notes(notes_a: list[str], notes_b: list[str]) -> list[str]:
    """Notes of both systems; one that holds for a single system says which."""
    shared = [note for note in notes_a if note in notes_b]
    only_a = [f"A: {note}" for note in notes_a if note not in notes_b]
    only_b = [f"B: {note}" for note in notes_b if note not in notes_a]
    return [*shared, *only_a, *only_b]


def _split_metric_options(values: Optional[list[str]]) -> Optional[list[str]]:
    if not values:
        return None
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


def _print_rouge(out, details: dict) -> None:
    if "rouge" not in details:
        return
    table = Table(title="ROUGE precision, recall, F", title_justify="left")
    for column in ("metric", "precision", "recall", "fmeasure"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for name, measures in details["rouge"].items():
        table.add_row(name, _fmt(measures["precision"]), _fmt(measures["recall"]), _fmt(measures["fmeasure"]))
    out.print(table)


def _print_sentences(sentences: dict[str, list[float]]) -> None:
    table = Table(title="sentence level", title_justify="left")
    table.add_column("line", justify="right")
    for name in sentences:
        table.add_column(name, justify="right")
    for i, row in enumerate(zip(*sentences.values()), start=1):
        table.add_row(str(i), *(_fmt(v) for v in row))
    console().print(table)


def _flag(names: str, help: str) -> Any:
    """A boolean option that stays ``None`` unless given, so the library's default applies."""
    return typer.Option(names, help=help, show_default=False)


def score(
    task: TaskOpt,
    hyp: HypOpt,
    ref: RefOpt,
    metric: MetricOpt = None,
    against: AgainstOpt = None,
    output: FormatOpt = OutputFormat.table,
    bleu_tokenize: Annotated[Optional[str], typer.Option("--bleu-tokenize", metavar="NAME", help=_BLEU_TOKENIZE_HELP)] = None,
    rouge_tokenizer: Annotated[Optional[str], typer.Option("--rouge-tokenizer", metavar="NAME", help=_ROUGE_TOKENIZER_HELP)] = None,
    resamples: Annotated[Optional[int], typer.Option("--resamples", help="Bootstrap resamples for --against (default: a study's eval.bootstrap_resamples default, 1000).")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Seed of the bootstrap draw (default 12345).")] = None,
    sentence_sep: SentenceSepOpt = None,
    smooth_method: Annotated[Optional[str], typer.Option("--smooth-method", metavar="NAME", help="BLEU smoothing: exp (default), floor, add-k or none.")] = None,
    smooth_value: Annotated[Optional[float], typer.Option("--smooth-value", help="BLEU smoothing value (floor: 0.1, add-k: 1 by default).")] = None,
    max_ngram_order: Annotated[Optional[int], typer.Option("--max-ngram-order", help="BLEU's largest n-gram (default 4).")] = None,
    lowercase: Annotated[Optional[bool], _flag("--lowercase/--no-lowercase", "Lowercase before BLEU and chrF (default no).")] = None,
    effective_order: Annotated[Optional[bool], _flag("--effective-order/--no-effective-order", "BLEU over the n-gram orders that have matches (for sentence BLEU).")] = None,
    char_order: Annotated[Optional[int], typer.Option("--char-order", help="chrF character n-gram order (default 6).")] = None,
    word_order: Annotated[Optional[int], typer.Option("--word-order", help="chrF word n-gram order (default 0; 2 is chrF++).")] = None,
    beta: Annotated[Optional[int], typer.Option("--beta", help="chrF's recall weight (default 2).")] = None,
    eps_smoothing: Annotated[Optional[bool], _flag("--eps-smoothing/--no-eps-smoothing", "chrF's epsilon smoothing of chrF++.py / NLTK (default no).")] = None,
    whitespace: Annotated[Optional[bool], _flag("--whitespace/--no-whitespace", "chrF keeps whitespace in its character n-grams (default no).")] = None,
    case_sensitive: Annotated[Optional[bool], _flag("--case-sensitive/--no-case-sensitive", "TER keeps case (default no).")] = None,
    no_punct: Annotated[Optional[bool], _flag("--no-punct/--punct", "TER drops punctuation (default no).")] = None,
    normalized: Annotated[Optional[bool], _flag("--normalized/--no-normalized", "TER's normalisation (default: on for CJK tokenizers).")] = None,
    asian_support: Annotated[Optional[bool], _flag("--asian-support/--no-asian-support", "TER splits CJK characters (default: on for CJK tokenizers).")] = None,
    use_stemmer: Annotated[Optional[bool], _flag("--use-stemmer/--no-use-stemmer", f"ROUGE Porter stemming (default yes: {STEMMING_DEFAULT_NOTE}).")] = None,
    split_summaries: Annotated[Optional[bool], _flag("--split-summaries/--no-split-summaries", "ROUGE-Lsum splits sentences with NLTK's Punkt (rouge-score's split_summaries; needs NLTK's punkt_tab data), not on newlines (default no).")] = None,
    labels: Annotated[Optional[list[str]], typer.Option("--labels", metavar="LABEL", help="Labels to average over (repeat, or separate with commas); default: all seen.")] = None,
    zero_division: Annotated[Optional[float], typer.Option("--zero-division", help="Value of a precision/recall with nothing to divide by: 0 (default) or 1.")] = None,
    pos_label: Annotated[Optional[str], typer.Option("--pos-label", metavar="LABEL", help="Binary precision/recall/F1 of this label (at most two labels).")] = None,
    qa_rules: Annotated[Optional[str], typer.Option("--qa-rules", metavar="RULES", help="squad_v1 (the official v1.1 script, default) or squad_v2 (unanswerable questions).")] = None,
    sentence_level: Annotated[bool, typer.Option("--sentence-level", help="Also give sacrebleu's per-line BLEU, chrF and TER.")] = False,
) -> None:
    settings = _settings(locals())
    names = resolve_metrics(task, _split_metric_options(metric))
    inputs = read_score_inputs(task, hyp, ref, against, sentence_sep)
    files = {"hyp": hyp, "refs": ref, "against": against}
    if against is None:
        _score_one(task, names, inputs, settings, sentence_level, files, output)
    else:
        _score_two(task, names, inputs, settings, sentence_level, files, output)


def _payload(task: str, inputs: ScoreInputs, settings, result, sentences, files: dict) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "task": task,
        "examples": len(inputs.predictions),
        "hyp": str(files["hyp"]),
        "refs": [str(path) for path in files["refs"]],
        "settings": settings.to_dict(),
        **result.to_dict(),
    }
    if sentences is not None:
        payload["sentence_scores"] = sentences
    return payload


def _score_system(task: str, names: list[str], inputs: ScoreInputs, settings, sentence_level: bool):
    """The --hyp system's corpus scores, and its sentence scores when asked."""
    result = compute_metrics(task, inputs.predictions, inputs.references, settings, names)
    sentences = sentence_scores(task, inputs.predictions, inputs.references, settings, names) if sentence_level else None
    return result, sentences


def _score_one(task, names, inputs: ScoreInputs, settings, sentence_level: bool, files: dict, output: OutputFormat) -> None:
    result, sentences = _score_system(task, names, inputs, settings, sentence_level)
    if output is OutputFormat.json:
        print_json(_payload(task, inputs, settings, result, sentences, files))
        return
    _print_scores(result, task, files["hyp"], len(inputs.predictions))
    if sentences is not None:
        _print_sentences(sentences)


def _score_two(task, names, inputs: ScoreInputs, settings, sentence_level: bool, files: dict, output: OutputFormat) -> None:
    """Both systems scored alike, and the paired bootstrap test of B (--hyp) against A."""
    settings = pin_settings(task, settings, [inputs.predictions, inputs.baseline], inputs.references)
    result, sentences = _score_system(task, names, inputs, settings, sentence_level)
    result_a = compute_metrics(task, inputs.baseline, inputs.references, settings, names)
    tests = paired_bootstrap_many(task, inputs.baseline, inputs.predictions, inputs.references, names, settings)
    if output is OutputFormat.json:
        payload = _payload(task, inputs, settings, result, sentences, files)
        payload["against"] = {"file": str(files["against"]), **result_a.to_dict()}
        payload["paired"] = {name: test.to_dict() for name, test in tests.items()}
        print_json(payload)
        return
    _print_comparison(result_a, result, tests, files["against"], files["hyp"], task, len(inputs.predictions))


def register(app: typer.Typer) -> None:
    """Add ``tfcli score`` to the root app."""
    app.command("score", help=HELP)(score)
