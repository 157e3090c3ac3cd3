"""``tfcli score``: score a file of outputs with the metrics studies use, or test two systems."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer

from tfcli.cli.output import OutputFormat, console, print_json
from tfcli.errors import DataError

HELP = """Score a file of outputs with the same metrics (and code) that studies use.

\b
Input files, one example per line, UTF-8:
  translation, summarization: plain text, one segment per line. Repeat --ref for several
    references; a blank line in the second or a later --ref file means "no reference here".
  classification: JSONL; each line a JSON string or integer, or {"label": ...}
    ({"prediction": ...} is also read in --hyp).
  qa: JSONL; --hyp lines a JSON string or {"prediction": "..."}; --ref lines a list of gold
    answers, a string, or {"answers": [...]} (SQuAD's {"answers": {"text": [...]}} works too).
    An empty list marks an unanswerable question (with --qa-rules squad_v2). Several --ref
    files add answers. When the --ref lines carry an "id", --hyp may be keyed by id too:
    lines {"id": ..., "prediction": ...}, or one JSON object {id: answer} (the official
    SQuAD predictions file); a question whose id is missing counts as unanswered (0).

\b
Metric options take sacrebleu's, rouge-score's and scikit-learn's names and defaults:
  BLEU --smooth-method --smooth-value --max-ngram-order --lowercase --effective-order;
  chrF --char-order --word-order (2: chrF++) --beta --eps-smoothing;
  TER --case-sensitive --no-punct --normalized --asian-support; ROUGE --no-use-stemmer
  (precision and recall are reported beside F); classification --labels --zero-division
  --pos-label; qa --qa-rules squad_v1 (the official v1.1 script, default) or squad_v2.
  --sentence-level adds sacrebleu's per-line BLEU/chrF/TER (use --effective-order for BLEU).

With --against FILE, both systems are scored and each metric gets a paired bootstrap test:
A is the --against file, B the --hyp file, and the difference is B - A.
"""

_BLEU_TOKENIZE_HELP = "sacrebleu tokenizer for BLEU and METEOR: 13a (default), intl, zh, char, none, ja-mecab, ko-mecab."
_ROUGE_TOKENIZER_HELP = (
    "ROUGE tokenizer: auto (the default; cjk when the texts hold CJK characters), default (rouge-score's, "
    "ASCII only), cjk (CJK characters one by one, Unicode words elsewhere) or whitespace."
)


def _read_text(path: Path, option: str) -> list[str]:
    """The lines of a UTF-8 file (a final newline ends the last line, it does not add one)."""
    if not path.exists():
        raise DataError(f"{option} file must exist, but {path} was not found")
    if path.is_dir():
        raise DataError(f"{option} must be a file, but {path} is a directory")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DataError(f"{option} file must be readable, but {path} is not: {err.strerror}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: files must be UTF-8, but this line is not") from None
    if not text:
        raise DataError(f"{option} file must hold one line per example, but {path} is empty")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _read_jsonl(path: Path, option: str, parse: Callable[[Any], Any], shape: str) -> list:
    """Parse each line of a JSONL file with ``parse``; errors name the file, line and shape."""
    values = []
    for number, line in enumerate(_read_text(path, option), start=1):
        try:
            value = parse(json.loads(line))
        except (json.JSONDecodeError, ValueError, TypeError, KeyError):
            shown = line if len(line) <= 60 else line[:57] + "..."
            raise DataError(f"{path}:{number}: each line must be {shape}, but got {shown!r}") from None
        values.append(value)
    return values


def _label(value: Any, keys: tuple[str, ...]) -> str:
    if isinstance(value, dict):
        value = next((value[k] for k in keys if k in value), None)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TypeError(value)
    return str(value)


def _prediction(value: Any) -> str:
    if isinstance(value, dict):
        value = value["prediction"]
    if not isinstance(value, str):
        raise TypeError(value)
    return value


def _answers(value: Any) -> list[str]:
    if isinstance(value, dict):
        value = value["answers"]
        if isinstance(value, dict):
            value = value["text"]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise TypeError(value)
    texts = [item["text"] if isinstance(item, dict) else item for item in value]
    if not all(isinstance(text, str) for text in texts):
        raise TypeError(value)
    return texts


_SHAPES = {
    ("classification", "hyp"): ('a JSON string, an integer, or {"label": ...}', lambda v: _label(v, ("label", "prediction"))),
    ("classification", "ref"): ('a JSON string, an integer, or {"label": ...}', lambda v: _label(v, ("label",))),
    ("qa", "hyp"): ('a JSON string or {"prediction": "..."}', _prediction),
    ("qa", "ref"): ('a JSON list of answers, a string, or {"answers": [...]}', _answers),
}


def _qa_ids(path: Path) -> Optional[list[str]]:
    """The "id" of every line of a qa --ref file, or ``None`` when some line has none."""
    ids = []
    for line in _read_text(path, "--ref"):
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            return None
        if not isinstance(value, dict) or "id" not in value:
            return None
        ids.append(str(value["id"]))
    return ids


def _qa_predictions_by_id(path: Path, option: str) -> Optional[dict[str, str]]:
    """A qa --hyp file keyed by id (one {id: answer} object, or lines with an "id"), else ``None``."""
    lines = _read_text(path, option)
    try:
        values = [json.loads(line) for line in lines]
    except json.JSONDecodeError:
        try:
            values = [json.loads("\n".join(lines))]
        except json.JSONDecodeError:
            return None
    if len(values) == 1 and isinstance(values[0], dict) and "prediction" not in values[0]:
        mapping = values[0]
        if not all(isinstance(v, str) for v in mapping.values()):
            raise DataError(f"{path}: a predictions object must map each id to an answer string")
        return {str(k): v for k, v in mapping.items()}
    if values and all(isinstance(v, dict) and "id" in v for v in values):
        out = {}
        for number, value in enumerate(values, start=1):
            if not isinstance(value.get("prediction"), str):
                raise DataError(f"{path}:{number}: each line must be {{\"id\": ..., \"prediction\": \"...\"}}")
            out[str(value["id"])] = value["prediction"]
        return out
    return None


def _read_outputs(task: str, path: Path, option: str, sentence_sep: Optional[str], ids: Optional[list[str]] = None) -> list:
    """Outputs in example order; qa outputs keyed by id follow the references' ``ids``
    (``None`` for an id with no prediction)."""
    if task == "qa" and ids is not None:
        by_id = _qa_predictions_by_id(path, option)
        if by_id is not None:
            return [by_id.get(i) for i in ids]
    if (task, "hyp") in _SHAPES:
        shape, parse = _SHAPES[(task, "hyp")]
        return _read_jsonl(path, option, parse, shape)
    return [_split_sentences(line, sentence_sep) for line in _read_text(path, option)]


def _split_sentences(line: str, sentence_sep: Optional[str]) -> str:
    return line.replace(sentence_sep, "\n") if sentence_sep else line


def _read_references(task: str, paths: list[Path], sentence_sep: Optional[str]) -> tuple[list, list[int]]:
    """References in the form :func:`compute_metrics` takes, and each file's line count."""
    if task == "classification":
        if len(paths) != 1:
            raise DataError(f"classification takes exactly one --ref file, but got {len(paths)}")
        shape, parse = _SHAPES[(task, "ref")]
        labels = _read_jsonl(paths[0], "--ref", parse, shape)
        return labels, [len(labels)]
    if task == "qa":
        shape, parse = _SHAPES[(task, "ref")]
        files = [_read_jsonl(path, "--ref", parse, shape) for path in paths]
    else:
        files = [[_split_sentences(line, sentence_sep) for line in _read_text(path, "--ref")] for path in paths]
    counts = [len(lines) for lines in files]
    if len(set(counts)) > 1:
        return [], counts
    if task == "qa":
        return [sum(answers, []) for answers in zip(*files)], counts
    return [[first, *(ref for ref in more if ref)] for first, *more in zip(*files)], counts


def _check_counts(hyp: Path, n_hyp: int, refs: list[Path], ref_counts: list[int], against: Optional[Path], n_against: int) -> None:
    for path, count in [*zip(refs, ref_counts), *([(against, n_against)] if against else [])]:
        if count != n_hyp:
            raise DataError(
                f"every file must have one line per example, but {path} has {count} lines and {hyp} has {n_hyp}"
            )


def _fmt(value: float) -> str:
    return f"{value:.2f}"


def _plain(text: object) -> str:
    """User text (file names, labels) shown as is, never read as Rich markup."""
    from rich.markup import escape

    return escape(str(text))


def _print_scores(result, task: str, hyp: Path, n: int) -> None:
    from rich.table import Table

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
    from rich.table import Table

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
    from rich.table import Table

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
    from rich.table import Table

    if "rouge" not in details:
        return
    table = Table(title="ROUGE precision, recall, F", title_justify="left")
    for column in ("metric", "precision", "recall", "fmeasure"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for name, measures in details["rouge"].items():
        table.add_row(name, _fmt(measures["precision"]), _fmt(measures["recall"]), _fmt(measures["fmeasure"]))
    out.print(table)


def _print_sentences(sentences: dict[str, list[float]]) -> None:
    from rich.table import Table

    table = Table(title="sentence level", title_justify="left")
    table.add_column("line", justify="right")
    for name in sentences:
        table.add_column(name, justify="right")
    for i, row in enumerate(zip(*sentences.values()), start=1):
        table.add_row(str(i), *(_fmt(v) for v in row))
    console().print(table)


def score(
    task: Annotated[str, typer.Option("--task", "-t", metavar="TASK", help="translation, summarization, classification or qa.")],
    hyp: Annotated[Path, typer.Option("--hyp", metavar="FILE", help="System outputs, one example per line.")],
    ref: Annotated[list[Path], typer.Option("--ref", metavar="FILE", help="References; repeat for several references per example.")],
    metric: Annotated[
        Optional[list[str]],
        typer.Option("--metric", "-m", metavar="METRIC", help="A metric to compute (repeat, or separate with commas); default: all of the task's."),
    ] = None,
    against: Annotated[
        Optional[Path],
        typer.Option("--against", metavar="FILE", help="A baseline's outputs (A): run a paired bootstrap test of --hyp (B) against it."),
    ] = None,
    output: Annotated[OutputFormat, typer.Option("--format", "-f", help="table for people, json for scripts.")] = OutputFormat.table,
    bleu_tokenize: Annotated[Optional[str], typer.Option("--bleu-tokenize", metavar="NAME", help=_BLEU_TOKENIZE_HELP)] = None,
    rouge_tokenizer: Annotated[Optional[str], typer.Option("--rouge-tokenizer", metavar="NAME", help=_ROUGE_TOKENIZER_HELP)] = None,
    resamples: Annotated[Optional[int], typer.Option("--resamples", help="Bootstrap resamples for --against (default: a study's eval.bootstrap_resamples default, 1000).")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Seed of the bootstrap draw (default 12345).")] = None,
    sentence_sep: Annotated[
        Optional[str],
        typer.Option("--sentence-sep", metavar="TEXT", help="Text that separates sentences within a line (e.g. '<n>'); ROUGE-Lsum splits on it."),
    ] = None,
    smooth_method: Annotated[Optional[str], typer.Option("--smooth-method", metavar="NAME", help="BLEU smoothing: exp (default), floor, add-k or none.")] = None,
    smooth_value: Annotated[Optional[float], typer.Option("--smooth-value", help="BLEU smoothing value (floor: 0.1, add-k: 1 by default).")] = None,
    max_ngram_order: Annotated[Optional[int], typer.Option("--max-ngram-order", help="BLEU's largest n-gram (default 4).")] = None,
    lowercase: Annotated[Optional[bool], typer.Option("--lowercase/--no-lowercase", help="Lowercase before BLEU (default no).", show_default=False)] = None,
    effective_order: Annotated[Optional[bool], typer.Option("--effective-order/--no-effective-order", help="BLEU over the n-gram orders that have matches (for sentence BLEU).", show_default=False)] = None,
    char_order: Annotated[Optional[int], typer.Option("--char-order", help="chrF character n-gram order (default 6).")] = None,
    word_order: Annotated[Optional[int], typer.Option("--word-order", help="chrF word n-gram order (default 0; 2 is chrF++).")] = None,
    beta: Annotated[Optional[int], typer.Option("--beta", help="chrF's recall weight (default 2).")] = None,
    eps_smoothing: Annotated[Optional[bool], typer.Option("--eps-smoothing/--no-eps-smoothing", help="chrF's epsilon smoothing of chrF++.py / NLTK (default no).", show_default=False)] = None,
    case_sensitive: Annotated[Optional[bool], typer.Option("--case-sensitive/--no-case-sensitive", help="TER keeps case (default no).", show_default=False)] = None,
    no_punct: Annotated[Optional[bool], typer.Option("--no-punct/--punct", help="TER drops punctuation (default no).", show_default=False)] = None,
    normalized: Annotated[Optional[bool], typer.Option("--normalized/--no-normalized", help="TER's normalisation (default: on for CJK tokenizers).", show_default=False)] = None,
    asian_support: Annotated[Optional[bool], typer.Option("--asian-support/--no-asian-support", help="TER splits CJK characters (default: on for CJK tokenizers).", show_default=False)] = None,
    use_stemmer: Annotated[Optional[bool], typer.Option("--use-stemmer/--no-use-stemmer", help="ROUGE Porter stemming (default yes).", show_default=False)] = None,
    labels: Annotated[Optional[list[str]], typer.Option("--labels", metavar="LABEL", help="Labels to average over (repeat, or separate with commas); default: all seen.")] = None,
    zero_division: Annotated[Optional[float], typer.Option("--zero-division", help="Value of a precision/recall with nothing to divide by: 0 (default) or 1.")] = None,
    pos_label: Annotated[Optional[str], typer.Option("--pos-label", metavar="LABEL", help="Binary precision/recall/F1 of this label (at most two labels).")] = None,
    qa_rules: Annotated[Optional[str], typer.Option("--qa-rules", metavar="RULES", help="squad_v1 (the official v1.1 script, default) or squad_v2 (unanswerable questions).")] = None,
    sentence_level: Annotated[bool, typer.Option("--sentence-level", help="Also give sacrebleu's per-line BLEU, chrF and TER.")] = False,
) -> None:
    from tfcli.metrics import (
        MetricSettings,
        compute_metrics,
        paired_bootstrap_many,
        pin_settings,
        resolve_metrics,
        sentence_scores,
    )

    given = {
        "bleu_tokenize": bleu_tokenize,
        "rouge_tokenizer": rouge_tokenizer,
        "bootstrap_resamples": resamples,
        "bootstrap_seed": seed,
        "bleu_smooth_method": smooth_method,
        "bleu_smooth_value": smooth_value,
        "bleu_max_ngram_order": max_ngram_order,
        "bleu_lowercase": lowercase,
        "bleu_effective_order": effective_order,
        "chrf_char_order": char_order,
        "chrf_word_order": word_order,
        "chrf_beta": beta,
        "chrf_eps_smoothing": eps_smoothing,
        "ter_case_sensitive": case_sensitive,
        "ter_no_punct": no_punct,
        "ter_normalized": normalized,
        "ter_asian_support": asian_support,
        "rouge_use_stemmer": use_stemmer,
        "classification_labels": tuple(_split_metric_options(labels) or ()) if labels else None,
        "zero_division": zero_division,
        "pos_label": pos_label,
        "qa_rules": qa_rules,
    }
    settings = MetricSettings(**{k: v for k, v in given.items() if v is not None})
    settings.validate()
    names = resolve_metrics(task, _split_metric_options(metric))
    ids = _qa_ids(ref[0]) if task == "qa" and ref else None
    predictions = _read_outputs(task, hyp, "--hyp", sentence_sep, ids)
    references, ref_counts = _read_references(task, ref, sentence_sep)
    baseline = _read_outputs(task, against, "--against", sentence_sep, ids) if against else []
    _check_counts(hyp, len(predictions), ref, ref_counts, against, len(baseline))
    if against is not None:
        settings = pin_settings(task, settings, [predictions, baseline], references)

    result = compute_metrics(task, predictions, references, settings, names)
    sentences = sentence_scores(task, predictions, references, settings, names) if sentence_level else None
    payload: dict[str, Any] = {
        "task": task,
        "examples": len(predictions),
        "hyp": str(hyp),
        "refs": [str(path) for path in ref],
        "settings": settings.to_dict(),
        **result.to_dict(),
    }
    if sentences is not None:
        payload["sentence_scores"] = sentences
    if against is None:
        if output is OutputFormat.json:
            print_json(payload)
        else:
            _print_scores(result, task, hyp, len(predictions))
            if sentences is not None:
                _print_sentences(sentences)
        return

    result_a = compute_metrics(task, baseline, references, settings, names)
    tests = paired_bootstrap_many(task, baseline, predictions, references, names, settings)
    payload["against"] = {"file": str(against), **result_a.to_dict()}
    payload["paired"] = {name: test.to_dict() for name, test in tests.items()}
    if output is OutputFormat.json:
        print_json(payload)
    else:
        _print_comparison(result_a, result, tests, against, hyp, task, len(predictions))


def register(app: typer.Typer) -> None:
    """Add ``tfcli score`` to the root app."""
    app.command("score", help=HELP)(score)
