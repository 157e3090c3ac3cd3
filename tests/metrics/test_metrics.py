"""tfcli.metrics against the reference libraries called directly, and hand-computed cases."""

from __future__ import annotations

import re
import string
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from tfcli.spec.tasks import TASKS
from tfcli.errors import MetricError, UserError
from tfcli.metrics import (
    METEOR_NOTE,
    BootstrapResult,
    MetricSettings,
    compute_metrics,
    metric_names,
    paired_bootstrap,
    paired_bootstrap_many,
    pin_settings,
)

pytestmark = pytest.mark.timeout(120)

HYPS = [
    "The cat sat on the mat.",
    "A quick brown fox jumps over the lazy dog!",
    "",
    "Héllo wörld, ça va?",
    "It is raining cats and dogs today",
]
REFS = [
    ["The cat is sitting on the mat."],
    ["The quick brown fox jumped over a lazy dog."],
    ["Nothing here."],
    ["Hello world, ça va bien?"],
    [""],
]
MULTI_REFS = [
    ["The cat is sitting on the mat.", "A cat sat on the mat."],
    ["The quick brown fox jumped over a lazy dog.", "A fast brown fox leaps over the dog."],
    ["Nothing here.", "Empty."],
    ["Hello world, ça va bien?", "Hi world, how are you?"],
    ["", "It rains heavily."],
]
VARIABLE_REFS = [refs[:1] if i % 2 else refs for i, refs in enumerate(MULTI_REFS)]


def sacrebleu_streams(references):
    depth = max(len(r) for r in references)
    return [[r[i] if i < len(r) else None for r in references] for i in range(depth)]


# --------------------------------------------------------------------------- task contract


@pytest.mark.parametrize("task", sorted(TASKS))
def test_metric_names_are_the_tasks_metrics_except_loss(task):
    assert metric_names(task) == tuple(m for m in TASKS[task].metrics if m != "loss")


@pytest.mark.parametrize("task", sorted(TASKS))
def test_every_metric_of_every_task_is_computed_on_a_0_100_scale(task):
    if task == "classification":
        predictions, references = ["a", "b", "a"], ["a", "b", "b"]
    else:
        predictions, references = ["a b c d", "e f"], [["a b c d"], ["e g"]]
    result = compute_metrics(task, predictions, references)
    assert list(result.scores) == list(metric_names(task))
    assert set(result.signatures) == set(result.scores)
    for name, value in result.scores.items():
        assert 0.0 <= value <= 100.0, (name, value)
    assert set(result.to_dict()) == {"scores", "signatures", "details", "notes"}


def test_import_is_light():
    code = "import sys, tfcli.metrics; print(sorted(m for m in ('numpy','sacrebleu','nltk','rouge_score','torch') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------- sacrebleu


@pytest.mark.parametrize("references", [REFS, MULTI_REFS, VARIABLE_REFS], ids=["one-ref", "two-refs", "variable-refs"])
def test_bleu_chrf_ter_equal_sacrebleu(references):
    import sacrebleu

    streams = sacrebleu_streams(references)
    result = compute_metrics("translation", HYPS, references, metrics=["bleu", "chrf", "ter"])
    assert result.scores["bleu"] == pytest.approx(sacrebleu.corpus_bleu(HYPS, streams).score, abs=1e-9)
    assert result.scores["chrf"] == pytest.approx(sacrebleu.corpus_chrf(HYPS, streams).score, abs=1e-9)
    assert result.scores["ter"] == pytest.approx(sacrebleu.corpus_ter(HYPS, streams).score, abs=1e-9)


def test_signatures_are_sacrebleus():
    from sacrebleu.metrics import BLEU, CHRF, TER

    result = compute_metrics("translation", HYPS, VARIABLE_REFS, metrics=["bleu", "chrf", "ter"])
    streams = sacrebleu_streams(VARIABLE_REFS)
    for name, metric in (("bleu", BLEU()), ("chrf", CHRF()), ("ter", TER())):
        metric.corpus_score(HYPS, streams)
        assert result.signatures[name] == metric.get_signature().format()
    assert "nrefs:var" in result.signatures["bleu"] and "tok:13a" in result.signatures["bleu"]


def test_bleu_hand_computed_cases():
    perfect = compute_metrics("translation", ["a b c d e"], [["a b c d e"]], metrics=["bleu", "ter"])
    assert perfect.scores == {"bleu": pytest.approx(100.0), "ter": pytest.approx(0.0)}
    empty_hyp = compute_metrics("translation", [""], [["a b c d e"]], metrics=["bleu", "chrf", "ter"])
    assert empty_hyp.scores == {"bleu": 0.0, "chrf": 0.0, "ter": pytest.approx(100.0)}
    # An empty reference line: every hypothesis word is an edit, and TER caps the rate at 100.
    empty_ref = compute_metrics("translation", ["a b"], [[""]], metrics=["bleu", "ter"])
    assert empty_ref.scores == {"bleu": 0.0, "ter": pytest.approx(100.0)}
    # The second reference makes the hypothesis perfect.
    two = compute_metrics("translation", ["x y z w"], [["a b c d", "x y z w"]], metrics=["bleu"])
    assert two.scores["bleu"] == pytest.approx(100.0)


def test_chinese_bleu_with_the_zh_tokenizer():
    from sacrebleu.metrics import BLEU, TER

    hyps, refs = ["我爱北京天安门。", "今天天气很好"], [["我爱北京的天安门。"], ["今天天气不错"]]
    zh = compute_metrics("translation", hyps, refs, MetricSettings(bleu_tokenize="zh"), ["bleu", "ter"])
    assert zh.scores["bleu"] == pytest.approx(BLEU(tokenize="zh").corpus_score(hyps, [[r[0] for r in refs]]).score)
    ter = TER(normalized=True, asian_support=True)
    assert zh.scores["ter"] == pytest.approx(ter.corpus_score(hyps, [[r[0] for r in refs]]).score)
    assert "tok:zh" in zh.signatures["bleu"] and "asian:yes" in zh.signatures["ter"]
    thirteen_a = compute_metrics("translation", hyps, refs, metrics=["bleu"])
    assert thirteen_a.scores["bleu"] < zh.scores["bleu"]
    assert any("CJK" in note for note in thirteen_a.notes)
    assert not any("CJK" in note for note in zh.notes)
    char = compute_metrics("translation", hyps, refs, MetricSettings(bleu_tokenize="char"), ["bleu"])
    assert char.scores["bleu"] == pytest.approx(BLEU(tokenize="char").corpus_score(hyps, [[r[0] for r in refs]]).score)


def test_missing_mecab_is_a_clear_error():
    try:
        import MeCab  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("MeCab is installed")
    with pytest.raises(MetricError, match=r"sacrebleu\[ja\]"):
        compute_metrics("translation", ["a"], [["a"]], MetricSettings(bleu_tokenize="ja-mecab"), ["bleu"])


# --------------------------------------------------------------------------- METEOR


def test_meteor_matches_exact_and_stems_but_not_synonyms():
    result = compute_metrics("translation", ["the cat sat", "cats running", "the big dog"], [["the cat sat"], ["cat run"], ["the large dog"]], metrics=["meteor"])
    # Lavie & Agarwal: fmean * (1 - 0.5 * (chunks / matches) ** 3), fmean = PR / (0.9 P + 0.1 R).
    exact = 1 - 0.5 * (1 / 3) ** 3
    stem = 1 - 0.5 * (1 / 2) ** 3
    no_synonym = (2 / 3) * (1 - 0.5 * (2 / 2) ** 3)  # big/large unmatched: 2 chunks of 1
    assert result.scores["meteor"] == pytest.approx(100 * (exact + stem + no_synonym) / 3)
    assert result.notes[0] == METEOR_NOTE
    assert result.signatures["meteor"].startswith("meteor|match:exact+stem|synonyms:no|tok:13a|nltk:")


def test_meteor_equals_nltk_on_sacrebleu_tokens_with_best_reference():
    from nltk.translate.meteor_score import meteor_score
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

    from tfcli.metrics.translation import NoSynonyms

    tok = Tokenizer13a()
    expected = [
        100 * meteor_score([tok(r).split() for r in refs], tok(h).split(), wordnet=NoSynonyms())
        for h, refs in zip(HYPS, MULTI_REFS)
    ]
    result = compute_metrics("summarization", HYPS, MULTI_REFS, metrics=["meteor"])
    assert result.scores["meteor"] == pytest.approx(sum(expected) / len(expected))
    assert expected[2] == 0.0 and max(expected) > 50  # the empty hypothesis scores 0


def test_meteor_loads_no_nltk_data(monkeypatch):
    import nltk.data

    def refuse(*args, **kwargs):
        raise AssertionError("METEOR tried to load NLTK data")

    monkeypatch.setattr(nltk.data, "find", refuse)
    monkeypatch.setattr(nltk.data, "load", refuse)
    result = compute_metrics("translation", ["the big dogs barked"], [["the large dog barks"]], metrics=["meteor"])
    assert 0 < result.scores["meteor"] < 100


def test_meteor_empty_reference_scores_zero():
    assert compute_metrics("translation", ["a b"], [[""]], metrics=["meteor"]).scores["meteor"] == 0.0


# --------------------------------------------------------------------------- ROUGE

ROUGE_TYPES = ["rouge1", "rouge2", "rougeL", "rougeLsum"]


def rouge_reference(predictions, references, tokenizer=None):
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(ROUGE_TYPES, use_stemmer=True, tokenizer=tokenizer)
    rows = [scorer.score_multi(refs, p) for p, refs in zip(predictions, references)]
    return {t: 100 * sum(r[t].fmeasure for r in rows) / len(rows) for t in ROUGE_TYPES}


ENGLISH = ["The cats were running.\nThey stopped at the gate.", "police arrest two men", "", "a b c"]
ENGLISH_REFS = [
    ["The cat ran.\nIt stopped near the gate.", "Cats run to the gate."],
    ["two men arrested by police"],
    ["something"],
    [""],
]


@pytest.mark.parametrize("setting", ["auto", "default", "cjk"])
def test_rouge_on_english_equals_rouge_score(setting):
    result = compute_metrics("summarization", ENGLISH, ENGLISH_REFS, MetricSettings(rouge_tokenizer=setting), ROUGE_TYPES)
    expected = rouge_reference(ENGLISH, ENGLISH_REFS)
    for name in ROUGE_TYPES:
        assert result.scores[name] == pytest.approx(expected[name], abs=1e-9), name


def test_rouge_lsum_splits_sentences_on_newlines():
    result = compute_metrics("summarization", ["a b\nc d"], [["c d\na b"]], metrics=["rougeL", "rougeLsum"])
    # One sequence: LCS("a b c d", "c d a b") = 2 of 4. Sentence by sentence every token is matched.
    assert result.scores == {"rougeL": pytest.approx(50.0), "rougeLsum": pytest.approx(100.0)}
    assert "lsum:newline" in result.signatures["rougeLsum"]


def test_cjk_tokenizer_gives_rouge_scores_default_tokens_on_ascii():
    from nltk.stem import porter
    from rouge_score import tokenize

    from tfcli.metrics.rouge import CjkTokenizer

    texts = ["The runners' running_fast, 3.5 times!", "  multiple   spaces\tand TABS ", "a-b c/d e_f", "", "..."]
    for text in texts:
        assert CjkTokenizer().tokenize(text) == tokenize.tokenize(text, porter.PorterStemmer())


def test_rouge_on_chinese_is_zero_by_default_and_not_with_cjk():
    hyps, refs = ["我爱北京", "今天天气很好"], [["我爱上海"], ["今天天气很好"]]
    default = compute_metrics("summarization", hyps, refs, MetricSettings(rouge_tokenizer="default"), ROUGE_TYPES)
    assert default.scores == {name: 0.0 for name in ROUGE_TYPES}
    assert rouge_reference(hyps, refs)["rouge1"] == 0.0  # rouge-score itself drops the characters
    cjk = compute_metrics("summarization", hyps, refs, MetricSettings(rouge_tokenizer="cjk"), ROUGE_TYPES)
    # 我 爱 北 京 against 我 爱 上 海: 2 of 4 unigrams, 1 of 3 bigrams; the second pair is identical.
    assert cjk.scores["rouge1"] == pytest.approx((50 + 100) / 2)
    assert cjk.scores["rouge2"] == pytest.approx((100 / 3 + 100) / 2)
    auto = compute_metrics("summarization", hyps, refs, metrics=ROUGE_TYPES)
    assert auto.scores == cjk.scores
    assert "tok:cjk" in auto.signatures["rouge1"] and auto.details["rouge_tokenizer"] == "cjk"


def test_cjk_tokenizer_splits_mixed_text():
    from tfcli.metrics.rouge import CjkTokenizer

    assert CjkTokenizer().tokenize("我们用Python写代码, running!") == ["我", "们", "用", "python", "写", "代", "码", "run"]
    assert CjkTokenizer().tokenize("日本語のテキスト") == list("日本語のテキスト")
    assert CjkTokenizer().tokenize("Ça va, Zoë?") == ["ça", "va", "zoë"]


def test_whitespace_rouge_tokenizer_and_unicode_note():
    hyps, refs = ["привет мир"], [["привет , мир"]]
    default = compute_metrics("summarization", hyps, refs, MetricSettings(rouge_tokenizer="default"), ["rouge1"])
    assert default.scores["rouge1"] == 0.0
    assert any("drops non-ASCII" in note for note in default.notes)
    whitespace = compute_metrics("summarization", hyps, refs, MetricSettings(rouge_tokenizer="whitespace"), ["rouge1"])
    assert whitespace.scores["rouge1"] == pytest.approx(100 * 2 * (2 / 2 * 2 / 3) / (2 / 2 + 2 / 3))
    assert "tok:whitespace" in whitespace.signatures["rouge1"] and "stem:no" in whitespace.signatures["rouge1"]


# --------------------------------------------------------------------------- classification

# scikit-learn's documented example for precision_recall_fscore_support.
SK_TRUE = ["cat", "dog", "pig", "cat", "dog", "pig"]
SK_PRED = ["cat", "pig", "dog", "cat", "cat", "dog"]


def test_classification_matches_scikit_learns_documented_example():
    s = compute_metrics("classification", SK_PRED, SK_TRUE).scores
    assert (s["precision"], s["recall"], s["f1"]) == pytest.approx((22.222222, 33.333333, 26.666667), abs=1e-4)
    assert (s["precision_micro"], s["recall_micro"], s["f1_micro"]) == pytest.approx((33.333333,) * 3, abs=1e-4)
    assert (s["precision_weighted"], s["recall_weighted"], s["f1_weighted"]) == pytest.approx(
        (22.222222, 33.333333, 26.666667), abs=1e-4
    )
    assert s["accuracy"] == pytest.approx(100 / 3)


def test_classification_class_never_predicted():
    result = compute_metrics("classification", ["a", "a", "a", "b"], ["a", "b", "c", "b"])
    per = result.details["per_class"]
    assert per["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1, "predicted": 0}
    assert per["a"]["precision"] == pytest.approx(100 / 3) and per["a"]["recall"] == 100.0
    assert per["b"]["precision"] == 100.0 and per["b"]["recall"] == 50.0
    f1 = {"a": 2 * (1 / 3) / (1 / 3 + 1), "b": 2 * 0.5 / 1.5, "c": 0.0}
    assert result.scores["f1"] == pytest.approx(100 * sum(f1.values()) / 3)
    assert result.scores["f1_weighted"] == pytest.approx(100 * (f1["a"] * 1 + f1["b"] * 2) / 4)
    assert result.scores["accuracy"] == 50.0
    assert any("never predicted: c" in note for note in result.notes)


def test_classification_label_only_predicted_counts_in_macro():
    result = compute_metrics("classification", ["a", "z"], ["a", "a"])
    assert result.details["labels"] == ["a", "z"]
    assert result.scores["recall"] == pytest.approx(100 * (0.5 + 0) / 2)
    assert result.scores["recall_weighted"] == pytest.approx(50.0)  # z has no references: weight 0


def test_classification_single_class():
    result = compute_metrics("classification", ["x"] * 4, ["x"] * 4)
    assert result.scores == {name: pytest.approx(100.0) for name in metric_names("classification")}
    assert result.notes == []


def test_classification_integer_and_unicode_labels():
    result = compute_metrics("classification", [1, 0, "正面"], ["1", 0, "正面"])
    assert result.scores["accuracy"] == 100.0
    assert set(result.details["per_class"]) == {"0", "1", "正面"}


# --------------------------------------------------------------------------- QA


def squad_normalize(s):  # the official SQuAD v1.1 evaluation script, verbatim in substance
    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    return white_space_fix(remove_articles(remove_punc(s.lower())))


def squad_f1(prediction, ground_truth):
    prediction_tokens = squad_normalize(prediction).split()
    ground_truth_tokens = squad_normalize(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    return (2 * precision * recall) / (precision + recall)


def squad_em(prediction, ground_truth):
    return squad_normalize(prediction) == squad_normalize(ground_truth)


QA_PREDICTIONS = ["The Eiffel Tower", "in 1889, Paris", "Denver Broncos!", "naïve café", "北京", "the big red dog"]
QA_GOLDS = [
    ["Eiffel Tower", "the tower"],
    ["1889"],
    ["Broncos", "Denver Broncos"],
    ["Naïve Café."],
    ["北京市", "北京"],
    ["a red dog", "big dog"],
]


def test_qa_equals_the_official_squad_script():
    result = compute_metrics("qa", QA_PREDICTIONS, QA_GOLDS)
    em = [max(squad_em(p, g) for g in golds) for p, golds in zip(QA_PREDICTIONS, QA_GOLDS)]
    f1 = [max(squad_f1(p, g) for g in golds) for p, golds in zip(QA_PREDICTIONS, QA_GOLDS)]
    assert result.scores["exact_match"] == pytest.approx(100 * sum(em) / len(em))
    assert result.scores["f1"] == pytest.approx(100 * sum(f1) / len(f1))
    assert 0 < result.scores["exact_match"] < result.scores["f1"] < 100


def test_qa_hand_computed_and_empty_cases():
    one = compute_metrics("qa", ["in 1889, Paris"], [["1889"]])
    # Tokens in, 1889, paris against 1889: precision 1/3, recall 1, F1 = 2 * (1/3) / (4/3).
    assert one.scores == {"exact_match": 0.0, "f1": pytest.approx(50.0)}
    assert compute_metrics("qa", [""], [["Paris"]]).scores == {"exact_match": 0.0, "f1": 0.0}
    # No gold answer (SQuAD 2.0): an empty prediction is right, anything else wrong.
    v2 = MetricSettings(qa_rules="squad_v2")
    assert compute_metrics("qa", [""], [[]], v2).scores == {"exact_match": 100.0, "f1": 100.0}
    assert compute_metrics("qa", ["Paris"], [[]], v2).scores == {"exact_match": 0.0, "f1": 0.0}
    assert compute_metrics("qa", ["an"], [["The"]], v2).scores == {"exact_match": 100.0, "f1": 100.0}
    # The official v1.1 script (the default): two empty answers share no token, so F1 is 0.
    assert compute_metrics("qa", ["an"], [["The"]]).scores == {"exact_match": 100.0, "f1": 0.0}


# --------------------------------------------------------------------------- errors


def test_unknown_metric_names_it_and_lists_the_valid_ones():
    with pytest.raises(MetricError) as err:
        compute_metrics("translation", ["a"], [["a"]], metrics=["bleu", "rouge1"])
    message = str(err.value)
    assert "'rouge1'" in message and "bleu, chrf, ter, meteor" in message
    with pytest.raises(MetricError, match="loss comes from training"):
        compute_metrics("qa", ["a"], [["a"]], metrics=["loss"])


@pytest.mark.parametrize(
    "call, pattern",
    [
        (lambda: compute_metrics("translation", ["a", "b"], [["a"]]), "same length.*2 predictions and 1 references"),
        (lambda: compute_metrics("parsing", ["a"], [["a"]]), "task must be one of.*'parsing'"),
        (lambda: compute_metrics("translation", [], []), "at least one example"),
        (lambda: compute_metrics("translation", ["a"], [[]]), r"references\[0\] must hold at least one reference"),
        (lambda: compute_metrics("translation", [None], [["a"]]), r"predictions\[0\] must be a string"),
        (lambda: compute_metrics("classification", [["a"]], ["a"]), r"predictions\[0\] must be a label"),
        (lambda: compute_metrics("translation", ["a"], [["a"]], MetricSettings(bleu_tokenize="moses")), "bleu_tokenize must be one of.*'moses'"),
        (lambda: compute_metrics("summarization", ["a"], [["a"]], MetricSettings(rouge_tokenizer="jieba")), "rouge_tokenizer must be one of.*'jieba'"),
        (lambda: paired_bootstrap("qa", ["a"], ["a"], [["a"]], "f1", MetricSettings(bootstrap_resamples=0)), "at least 1, but got 0"),
        (lambda: paired_bootstrap("qa", ["a"], ["a", "b"], [["a"]], "f1"), "both systems"),
    ],
)
def test_bad_inputs_raise_user_errors(call, pattern):
    with pytest.raises(UserError, match=pattern):
        call()


def test_a_bare_string_reference_is_one_reference():
    assert compute_metrics("translation", ["a b c d"], ["a b c d"], metrics=["bleu"]).scores["bleu"] == pytest.approx(100.0)


# --------------------------------------------------------------------------- paired bootstrap

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma".split()


def corpus(n=60):
    """References, a good system (one word changed in every third line) and its shuffled copy."""
    rng = np.random.default_rng(0)
    refs = [" ".join(rng.choice(WORDS, size=8)) for _ in range(n)]
    good = [r if i % 3 else " ".join(r.split()[:-1] + ["omega"]) for i, r in enumerate(refs)]
    shuffled = good[1:] + good[:1]
    return [[r] for r in refs], good, shuffled


@pytest.mark.parametrize(
    "task, metrics",
    [("translation", ["bleu", "chrf", "ter", "meteor"]), ("summarization", ["rouge1", "rouge2", "rougeL", "rougeLsum"]), ("qa", ["exact_match", "f1"])],
)
def test_identical_systems_p_is_one_and_ci_contains_zero(task, metrics):
    refs, good, _ = corpus()
    results = paired_bootstrap_many(task, good, list(good), refs, metrics, MetricSettings(bootstrap_resamples=300))
    for name, r in results.items():
        assert r.p_value == 1.0 and not r.significant, name
        assert r.ci_low <= 0.0 <= r.ci_high, name
        assert r.diff == 0.0 and r.mean_a == r.mean_b, name


@pytest.mark.parametrize(
    "task, metrics",
    [("translation", ["bleu", "chrf", "ter", "meteor"]), ("summarization", ["rouge1", "rouge2", "rougeL", "rougeLsum"]), ("qa", ["exact_match", "f1"])],
)
def test_a_shuffled_copy_is_significantly_worse(task, metrics):
    refs, good, shuffled = corpus()
    results = paired_bootstrap_many(task, good, shuffled, refs, metrics, MetricSettings(bootstrap_resamples=300))
    for name, r in results.items():
        assert r.significant and r.p_value == pytest.approx(1 / 301), name
        worse = r.diff > 0 if name == "ter" else r.diff < 0
        assert worse and not (r.ci_low <= 0 <= r.ci_high), name
        assert r.diff == pytest.approx(r.score_b - r.score_a)


def test_classification_bootstrap():
    rng = np.random.default_rng(1)
    refs = list(rng.choice(["pos", "neg", "neu"], size=80))
    good = [r if i % 5 else "neu" for i, r in enumerate(refs)]
    shuffled = list(rng.permutation(good))
    same = paired_bootstrap_many("classification", good, list(good), refs, None, MetricSettings(bootstrap_resamples=200))
    assert all(r.p_value == 1.0 and r.ci_low <= 0 <= r.ci_high for r in same.values())
    worse = paired_bootstrap_many("classification", good, shuffled, refs, ["accuracy", "f1", "f1_weighted"], MetricSettings(bootstrap_resamples=200))
    assert all(r.significant and r.diff < 0 for r in worse.values())


def test_bootstrap_repeats_for_a_fixed_seed_and_varies_with_the_seed():
    refs, good, shuffled = corpus()
    half = good[:30] + shuffled[30:]
    first = paired_bootstrap("translation", good, half, refs, "bleu", MetricSettings(bootstrap_resamples=200, bootstrap_seed=7))
    again = paired_bootstrap("translation", good, half, refs, "bleu", MetricSettings(bootstrap_resamples=200, bootstrap_seed=7))
    other = paired_bootstrap("translation", good, half, refs, "bleu", MetricSettings(bootstrap_resamples=200, bootstrap_seed=8))
    assert first == again
    assert (first.mean_b, first.ci_low) != (other.mean_b, other.ci_low)
    assert first.n_resamples == 200 and first.seed == 7
    assert isinstance(first, BootstrapResult)
    assert set(first.to_dict()) >= {"metric", "mean_a", "mean_b", "diff", "ci_low", "ci_high", "p_value", "n_resamples", "seed", "significant"}


def test_bootstrap_means_equal_sacrebleus_paired_bootstrap(monkeypatch):
    from sacrebleu.metrics import BLEU, CHRF, TER
    from sacrebleu.significance import PairedTest

    monkeypatch.setenv("SACREBLEU_SEED", "12345")
    refs, good, shuffled = corpus()
    half = good[:40] + shuffled[40:]
    ours = paired_bootstrap_many("translation", good, half, refs, ["bleu", "chrf", "ter"], MetricSettings(bootstrap_resamples=500))
    test = PairedTest([("a", good), ("b", half)], {"BLEU": BLEU(), "chrF": CHRF(), "TER": TER()}, [[r[0] for r in refs]], test_type="bs", n_samples=500)
    _, theirs = test()
    for name, key in (("bleu", "BLEU"), ("chrf", "chrF2"), ("ter", "TER")):
        baseline, system = theirs[key]
        assert ours[name].score_a == pytest.approx(baseline.score) and ours[name].score_b == pytest.approx(system.score)
        assert ours[name].mean_a == pytest.approx(baseline.mean, abs=1e-3)
        assert ours[name].mean_b == pytest.approx(system.mean, abs=1e-3)
        assert (ours[name].p_value < 0.05) == (system.p_value < 0.05)


def test_auto_rouge_tokenizer_is_decided_once_for_both_systems():
    refs = [["the cat sat"], ["a dog ran"]]
    plain, with_cjk = ["the cat sat", "a dog ran"], ["the cat sat 猫", "a dog ran"]
    pinned = pin_settings("summarization", MetricSettings(), [plain, with_cjk], refs)
    assert pinned.rouge_tokenizer == "cjk" and MetricSettings().rouge_tokenizer == "auto"
    assert pin_settings("summarization", MetricSettings(rouge_tokenizer="default"), [with_cjk], refs).rouge_tokenizer == "default"
    result = paired_bootstrap("summarization", plain, with_cjk, refs, "rouge1", MetricSettings(bootstrap_resamples=50))
    cjk = MetricSettings(rouge_tokenizer="cjk")
    assert result.score_a == pytest.approx(compute_metrics("summarization", plain, refs, cjk, ["rouge1"]).scores["rouge1"])
    assert result.score_b == pytest.approx(compute_metrics("summarization", with_cjk, refs, cjk, ["rouge1"]).scores["rouge1"])


def test_generic_bootstrap_resamples_the_same_indices_for_both_systems():
    from tfcli.metrics.qa import token_f1

    refs, good, shuffled = corpus(40)
    half = good[:20] + shuffled[20:]
    r = paired_bootstrap("qa", good, half, refs, "f1", MetricSettings(bootstrap_resamples=250, bootstrap_seed=3))
    per_a = np.array([100 * token_f1(p, g[0]) for p, g in zip(good, refs)])
    per_b = np.array([100 * token_f1(p, g[0]) for p, g in zip(half, refs)])
    idx = np.random.default_rng(3).choice(40, size=(250, 40), replace=True)
    diffs = np.sort(per_b[idx].mean(1) - per_a[idx].mean(1))
    assert r.mean_a == pytest.approx(per_a[idx].mean(1).mean())
    assert r.mean_b == pytest.approx(per_b[idx].mean(1).mean())
    assert (r.ci_low, r.ci_high) == pytest.approx((diffs[250 // 40], diffs[250 - 250 // 40 - 1]))
    shifted = diffs - diffs.mean()
    assert r.p_value == pytest.approx((np.sum(np.abs(shifted) >= abs(per_b.mean() - per_a.mean())) + 1) / 251)
