"""Every metric option against the libraries' own stated values.

The cases in ``tests/data/metric_reference_cases.json`` are copied from sacrebleu's
(test_bleu.py, test_sentence_bleu.py, test_chrf.py, test_ter.py), rouge-score's
(rouge_scorer_test.py), NLTK's (test_meteor.py) and scikit-learn's (test_classification.py)
test suites, and for QA are what the official SQuAD v1.1 evaluation script gives; each names
its repository, file and test. Each goes through the metrics API and through ``tfcli score``,
and all of them must agree (191 of 191).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tfcli.metrics import MetricSettings, compute_metrics, sentence_scores

pytestmark = pytest.mark.timeout(300)

CASES_FILE = Path(__file__).resolve().parents[1] / "data" / "metric_reference_cases.json"
CASES = json.loads(CASES_FILE.read_text(encoding="utf-8"))["cases"]

#: MetricSettings field -> ``tfcli score`` flag (booleans: the flag for True, the one for False).
FLAGS = {
    "bleu_tokenize": "--bleu-tokenize",
    "bleu_smooth_method": "--smooth-method",
    "bleu_smooth_value": "--smooth-value",
    "bleu_max_ngram_order": "--max-ngram-order",
    "bleu_lowercase": ("--lowercase", "--no-lowercase"),
    "bleu_effective_order": ("--effective-order", "--no-effective-order"),
    "chrf_char_order": "--char-order",
    "chrf_word_order": "--word-order",
    "chrf_beta": "--beta",
    "chrf_eps_smoothing": ("--eps-smoothing", "--no-eps-smoothing"),
    "chrf_lowercase": ("--lowercase", "--no-lowercase"),
    "chrf_whitespace": ("--whitespace", "--no-whitespace"),
    "ter_case_sensitive": ("--case-sensitive", "--no-case-sensitive"),
    "ter_no_punct": ("--no-punct", "--punct"),
    "ter_normalized": ("--normalized", "--no-normalized"),
    "ter_asian_support": ("--asian-support", "--no-asian-support"),
    "rouge_tokenizer": "--rouge-tokenizer",
    "rouge_use_stemmer": ("--use-stemmer", "--no-use-stemmer"),
    "rouge_split_summaries": ("--split-summaries", "--no-split-summaries"),
    "classification_labels": "--labels",
    "zero_division": "--zero-division",
    "pos_label": "--pos-label",
    "qa_rules": "--qa-rules",
}


def expected(case: dict) -> float:
    return case["stated_value"] * case["scale"]


def tolerance(case: dict) -> float:
    return case["tolerance"] * case["scale"]


def settings_of(case: dict) -> MetricSettings:
    given = dict(case["settings"])
    if "classification_labels" in given:
        given["classification_labels"] = tuple(given["classification_labels"])
    return MetricSettings(**given)


def cli_flags(case: dict) -> list[str]:
    flags = []
    for name, value in case["settings"].items():
        flag = FLAGS[name]
        if isinstance(flag, tuple):
            flags.append(flag[0] if value else flag[1])
        elif isinstance(value, list):
            flags += [flag, ",".join(value)]
        else:
            flags += [flag, str(value)]
    return flags


def value_of(case: dict, scores: dict, details: dict, sentences: dict | None) -> float:
    if case["level"] == "sentence":
        assert len(sentences[case["metric"]]) == 1
        return sentences[case["metric"]][0]
    if "measure" in case:
        return details["rouge"][case["metric"]][case["measure"]]
    return scores[case["metric"]]


def needs_a_sentence_model(case: dict, request) -> None:
    """rouge-score's split_summaries splits with NLTK's Punkt: see the ``punkt_model`` fixture."""
    if case["settings"].get("rouge_split_summaries"):
        request.getfixturevalue("punkt_model")


def test_there_are_191_cases_and_each_names_its_source():
    assert len(CASES) == 191
    assert len({case["id"] for case in CASES}) == len(CASES)
    for case in CASES:
        assert case["source"]["repository"] and case["source"]["file"] and case["source"]["test"], case["id"]
    covered = {name for case in CASES for name in case["settings"]}
    # every option that has stated values in the libraries' tests is exercised
    assert {
        "bleu_smooth_method", "bleu_smooth_value", "bleu_lowercase", "bleu_effective_order", "bleu_tokenize",
        "chrf_char_order", "chrf_word_order", "chrf_beta", "chrf_eps_smoothing",
        "chrf_lowercase", "chrf_whitespace", "rouge_use_stemmer", "rouge_split_summaries",
        "classification_labels", "zero_division", "pos_label", "qa_rules",
    } <= covered
    sources = {case["source"]["repository"] for case in CASES}
    assert {"mjpost/sacrebleu", "google-research/google-research", "nltk/nltk", "scikit-learn/scikit-learn"} <= sources
    assert any("SQuAD" in source for source in sources)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_api_agrees_with_the_library(case, request):
    needs_a_sentence_model(case, request)
    settings = settings_of(case)
    metric = case["metric"]
    if case["level"] == "sentence":
        sentences = sentence_scores(case["task"], case["hypotheses"], case["references"], settings, [metric])
        got = value_of(case, {}, {}, sentences)
    else:
        result = compute_metrics(case["task"], case["hypotheses"], case["references"], settings, [metric])
        got = value_of(case, result.scores, result.details, None)
    assert got == pytest.approx(expected(case), abs=tolerance(case)), case["source"]


def _write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_cli_agrees_with_the_library(case, cli, tmp_path, request):
    needs_a_sentence_model(case, request)
    task, metric = case["task"], case["metric"]
    sep = "<n>"
    if task in ("classification", "qa"):
        hyp = _write_lines(tmp_path / "hyp.jsonl", [json.dumps(h) for h in case["hypotheses"]])
        refs = [_write_lines(tmp_path / "ref.jsonl", [json.dumps(r) for r in case["references"]])]
    else:
        hyp = _write_lines(tmp_path / "hyp.txt", [h.replace("\n", sep) for h in case["hypotheses"]])
        depth = max(len(r) for r in case["references"])
        refs = [
            _write_lines(tmp_path / f"ref{i}.txt", [(r[i] if i < len(r) else "").replace("\n", sep) for r in case["references"]])
            for i in range(depth)
        ]
    args = ["score", "-t", task, "--hyp", hyp, "-m", metric, "-f", "json", *cli_flags(case)]
    for ref in refs:
        args += ["--ref", ref]
    if task == "summarization":
        args += ["--sentence-sep", sep]
    if case["level"] == "sentence":
        args.append("--sentence-level")
    result = cli(*args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    got = value_of(case, data["scores"], data["details"], data.get("sentence_scores"))
    assert got == pytest.approx(expected(case), abs=tolerance(case)), case["source"]
