"""``tfcli score``'s metric options: each reaches the library, bad values are one line and exit 2."""

from __future__ import annotations

import json

import pytest

from tests.cli.test_cli_score import assert_user_error, jsonl, payload, run, write
from tfcli.metrics import MetricSettings, compute_metrics
from tfcli.spec.schema import EvalSpec

pytestmark = pytest.mark.timeout(120)

HYPS = ["The cat, it sat on the mat!", "A quick brown fox jumps.", "Hello World"]
REFS = ["the cat sat on the mat.", "The quick brown fox jumped", "hello big world"]


@pytest.fixture
def text(tmp_path):
    return write(tmp_path / "hyp.txt", HYPS), write(tmp_path / "ref.txt", REFS)


def scores(text, *flags, metric):
    hyp, ref = text
    return payload(run("-t", "translation", "--hyp", hyp, "--ref", ref, "-m", metric, "-f", "json", *flags))


@pytest.mark.parametrize(
    "flags, kwargs",
    [
        (["--word-order", "2"], {"word_order": 2}),  # chrF++
        (["--char-order", "4", "--beta", "1"], {"char_order": 4, "beta": 1}),
        (["--eps-smoothing"], {"eps_smoothing": True}),
        (["--lowercase"], {"lowercase": True}),
        (["--whitespace"], {"whitespace": True}),
    ],
)
def test_chrf_options_are_sacrebleus(text, flags, kwargs):
    from sacrebleu.metrics import CHRF

    data = scores(text, *flags, metric="chrf")
    metric = CHRF(**kwargs)
    assert data["scores"]["chrf"] == pytest.approx(metric.corpus_score(HYPS, [REFS]).score)
    assert data["signatures"]["chrf"] == metric.get_signature().format()
    assert data["scores"]["chrf"] != pytest.approx(scores(text, metric="chrf")["scores"]["chrf"])


@pytest.mark.parametrize(
    "flags, kwargs",
    [
        (["--case-sensitive"], {"case_sensitive": True}),
        (["--no-punct"], {"no_punct": True}),
        (["--normalized"], {"normalized": True}),
        (["--case-sensitive", "--no-punct", "--normalized", "--asian-support"],
         {"case_sensitive": True, "no_punct": True, "normalized": True, "asian_support": True}),
    ],
)
def test_ter_options_are_sacrebleus(text, flags, kwargs):
    from sacrebleu.metrics import TER

    data = scores(text, *flags, metric="ter")
    metric = TER(**kwargs)
    assert data["scores"]["ter"] == pytest.approx(metric.corpus_score(HYPS, [REFS]).score)
    assert data["signatures"]["ter"] == metric.get_signature().format()
    assert data["scores"]["ter"] != pytest.approx(scores(text, metric="ter")["scores"]["ter"])


def test_bleu_options_and_sentence_level(text):
    from sacrebleu.metrics import BLEU

    data = scores(text, "--lowercase", "--max-ngram-order", "2", "--smooth-method", "add-k", "--smooth-value", "2", "--sentence-level", metric="bleu")
    metric = BLEU(lowercase=True, max_ngram_order=2, smooth_method="add-k", smooth_value=2)
    assert data["scores"]["bleu"] == pytest.approx(metric.corpus_score(HYPS, [REFS]).score)
    assert data["signatures"]["bleu"] == metric.get_signature().format()
    assert data["sentence_scores"]["bleu"] == pytest.approx([metric.sentence_score(h, [r]).score for h, r in zip(HYPS, REFS)])
    hyp, ref = text
    table = run("-t", "translation", "--hyp", hyp, "--ref", ref, "-m", "bleu", "--effective-order", "--sentence-level")
    assert table.exit_code == 0, table.output
    assert "sentence level" in table.stdout


def test_rouge_precision_recall_and_stemming(tmp_path):
    from rouge_score import rouge_scorer

    hyp = write(tmp_path / "h.txt", ["the cats were running fast"])
    ref = write(tmp_path / "r.txt", ["a cat runs fast"])
    for flag, stem in (("--use-stemmer", True), ("--no-use-stemmer", False)):
        data = payload(run("-t", "summarization", "--hyp", hyp, "--ref", ref, "-m", "rouge1", "-f", "json", flag))
        want = rouge_scorer.RougeScorer(["rouge1"], use_stemmer=stem).score("a cat runs fast", "the cats were running fast")["rouge1"]
        got = data["details"]["rouge"]["rouge1"]
        assert got == pytest.approx({"precision": 100 * want.precision, "recall": 100 * want.recall, "fmeasure": 100 * want.fmeasure})
        assert data["scores"]["rouge1"] == pytest.approx(100 * want.fmeasure)
        assert f"stem:{'yes' if stem else 'no'}" in data["signatures"]["rouge1"]
    table = run("-t", "summarization", "--hyp", hyp, "--ref", ref, "-m", "rouge1")
    assert "ROUGE precision, recall, F" in table.stdout


def test_classification_options_follow_scikit_learn(tmp_path):
    from sklearn.metrics import precision_recall_fscore_support

    y_true, y_pred = ["a", "b", "c", "a", "c"], ["a", "c", "c", "b", "c"]
    hyp, ref = jsonl(tmp_path / "h.jsonl", y_pred), jsonl(tmp_path / "r.jsonl", y_true)
    for flags, labels, zero_division in [
        (["--labels", "a,b,d"], ["a", "b", "d"], 0.0),
        (["--labels", "a", "--labels", "d", "--zero-division", "1"], ["a", "d"], 1.0),
    ]:
        data = payload(run("-t", "classification", "--hyp", hyp, "--ref", ref, "-f", "json", *flags))
        for average, suffix in (("macro", ""), ("micro", "_micro"), ("weighted", "_weighted")):
            p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=average, zero_division=zero_division)
            assert data["scores"][f"precision{suffix}"] == pytest.approx(100 * p), (flags, average)
            assert data["scores"][f"recall{suffix}"] == pytest.approx(100 * r), (flags, average)
            assert data["scores"][f"f1{suffix}"] == pytest.approx(100 * f), (flags, average)
    binary_true, binary_pred = ["pos", "neg", "pos", "pos"], ["pos", "pos", "neg", "pos"]
    hyp, ref = jsonl(tmp_path / "bh.jsonl", binary_pred), jsonl(tmp_path / "br.jsonl", binary_true)
    data = payload(run("-t", "classification", "--hyp", hyp, "--ref", ref, "-f", "json", "--pos-label", "neg"))
    p, r, f, _ = precision_recall_fscore_support(binary_true, binary_pred, pos_label="neg", average="binary", zero_division=0)
    assert [data["scores"][k] for k in ("precision", "recall", "f1")] == pytest.approx([0.0, 0.0, 0.0]) == [100 * p, 100 * r, 100 * f]
    assert "average:binary|pos_label:neg" in data["signatures"]["f1"]


@pytest.mark.parametrize(
    "flags, fragments",
    [
        (["--smooth-method", "laplace"], ["smooth_method must be one of exp, floor, add-k, none", "'laplace'"]),
        (["--smooth-value", "-1"], ["smooth_value must be a non-negative number", "-1"]),
        (["--max-ngram-order", "0"], ["max_ngram_order must be an integer of at least 1", "0"]),
        (["--char-order", "-2"], ["char_order must be an integer of at least 0"]),
        (["--char-order", "0", "--word-order", "0"], ["char_order or word_order"]),
        (["--beta", "-1"], ["beta must be an integer of at least 0"]),
        (["--zero-division", "0.5"], ["zero_division must be 0 or 1", "0.5"]),
        (["--qa-rules", "squad_v3"], ["qa_rules must be one of squad_v1, squad_v2", "'squad_v3'"]),
        (["--labels", "a,a"], ["labels must not repeat a label"]),
    ],
)
def test_bad_option_values_are_one_line_and_exit_2(text, flags, fragments):
    hyp, ref = text
    assert_user_error(run("-t", "translation", "--hyp", hyp, "--ref", ref, *flags), *fragments)


def test_option_errors_that_depend_on_the_data(tmp_path, text):
    hyp, ref = jsonl(tmp_path / "h.jsonl", ["a", "b", "c"]), jsonl(tmp_path / "r.jsonl", ["a", "b", "b"])
    assert_user_error(run("-t", "classification", "--hyp", hyp, "--ref", ref, "--pos-label", "a"), "pos_label needs binary data", "a, b, c")
    qa_hyp, qa_ref = jsonl(tmp_path / "qh.jsonl", ["x"]), jsonl(tmp_path / "qr.jsonl", [[]])
    assert_user_error(run("-t", "qa", "--hyp", qa_hyp, "--ref", qa_ref), "squad_v2")
    hyp, ref = text
    assert_user_error(run("-t", "summarization", "--hyp", hyp, "--ref", ref, "-m", "rouge1", "--sentence-level"), "bleu, chrf and ter only")


def test_defaults_keep_todays_numbers():
    from sacrebleu.metrics import BLEU, CHRF, TER

    result = compute_metrics("translation", HYPS, [[r] for r in REFS], MetricSettings(), ["bleu", "chrf", "ter"])
    assert result.scores["bleu"] == pytest.approx(BLEU().corpus_score(HYPS, [REFS]).score)
    assert result.scores["chrf"] == pytest.approx(CHRF().corpus_score(HYPS, [REFS]).score)
    assert result.scores["ter"] == pytest.approx(TER().corpus_score(HYPS, [REFS]).score)


def test_from_eval_reads_a_spec_or_its_stored_json_old_or_new():
    assert MetricSettings.from_eval(EvalSpec()) == MetricSettings()
    assert MetricSettings.from_eval({"bleu_tokenize": "zh"}) == MetricSettings(bleu_tokenize="zh")  # stored before the options
    settings = MetricSettings.from_eval({"qa_rules": "squad_v2", "chrf_word_order": 2, "classification_labels": ["x", "y"]})
    assert (settings.qa_rules, settings.chrf_word_order, settings.classification_labels) == ("squad_v2", 2, ("x", "y"))
    assert json.dumps(settings.to_dict())


def test_lowercase_reaches_bleu_and_chrf_alike(text):
    data = scores(text, "--lowercase", metric="bleu,chrf")
    assert data["settings"]["bleu_lowercase"] is data["settings"]["chrf_lowercase"] is True
    assert "|case:lc|" in data["signatures"]["bleu"] and "|case:lc|" in data["signatures"]["chrf"]


def test_help_says_where_a_default_differs_from_the_library_and_why(cli):
    from tfcli.metrics.notes import STEMMING_DEFAULT_NOTE

    assert MetricSettings().rouge_use_stemmer is True  # tfcli's default; rouge-score's is False
    shown = " ".join(cli("score", "--help").stdout.split())
    assert "Where tfcli's default differs from the library's: ROUGE stemming is on by default, unlike rouge-score" in shown
    assert " ".join(STEMMING_DEFAULT_NOTE.split()) in shown
    assert "ROUGE-1.5.5" in EvalSpec.model_fields["rouge_use_stemmer"].description
