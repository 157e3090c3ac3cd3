"""Issue 18: each baseline scores what its metric gives when computed by hand (or by the
library called directly) on a tiny fixed split, and results are cached by a hash of the data."""

from __future__ import annotations

import pytest

from tfcli.baselines import BaselineResult, best_baseline, compute_baselines
from tfcli.baselines.compute import score_baselines
from tfcli.baselines.translation import learn_dictionary
from tfcli.data.examples import ClassificationExample, QAExample, Seq2SeqExample, Splits
from tfcli.spec.schema import StudySpec

pytestmark = pytest.mark.timeout(120)


def spec_for(task: str, source: str, **sections) -> StudySpec:
    return StudySpec.model_validate({"name": f"b-{task}", "task": {"type": task, "data": source}, **sections})


def by_name(results, split="valid") -> dict[str, BaselineResult]:
    return {r.name: r for r in results if r.split == split}


# --- classification -----------------------------------------------------------------------------

CLASSIFICATION = Splits(
    train=[
        ClassificationExample("good food and good service", "pos"),
        ClassificationExample("really good", "pos"),
        ClassificationExample("good value", "pos"),
        ClassificationExample("bad food", "neg"),
        ClassificationExample("very bad service", "neg"),
    ],
    valid=[
        ClassificationExample("good service", "pos"),
        ClassificationExample("bad value", "neg"),
        ClassificationExample("bad bad bad", "neg"),
        ClassificationExample("good food", "pos"),
    ],
    test=[ClassificationExample("very good", "pos"), ClassificationExample("bad", "neg")],
)


def test_majority_class_scores_the_share_of_the_majority_label():
    results = by_name(score_baselines(spec_for("classification", "builtin:sentiment"), CLASSIFICATION))
    majority = results["majority_class"]
    assert majority.description == "always 'pos'"  # 3 of the 5 training labels
    assert [o["prediction"] for o in majority.outputs] == ["pos"] * 4
    assert majority.metrics["accuracy"] == pytest.approx(100 * 2 / 4)
    # macro F1 by hand: pos has P=2/4, R=2/2, F=2/3; neg is never predicted, F=0
    assert majority.metrics["f1"] == pytest.approx(100 * (2 / 3 + 0) / 2)
    assert majority.metrics["recall"] == pytest.approx(100 * (1 + 0) / 2)


def test_valid_is_cut_to_the_examples_a_trial_validates_on():
    spec = spec_for("classification", "builtin:sentiment", eval={"max_examples": 2})
    results = score_baselines(spec, CLASSIFICATION)
    majority = by_name(results)["majority_class"]
    assert len(majority.outputs) == 2 and majority.metrics["accuracy"] == pytest.approx(50.0)  # pos, neg
    assert by_name(results, "test")["majority_class"].metrics["accuracy"] == pytest.approx(50.0)  # the whole test split


def test_tfidf_logreg_equals_scikit_learn_called_directly():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score

    texts, labels = [e.text for e in CLASSIFICATION.train], [e.label for e in CLASSIFICATION.train]
    vectorizer = TfidfVectorizer(ngram_range=(1, 2))
    model = LogisticRegression(max_iter=1000).fit(vectorizer.fit_transform(texts), labels)
    for split in ("valid", "test"):
        examples = getattr(CLASSIFICATION, split)
        gold = [e.label for e in examples]
        expected = list(model.predict(vectorizer.transform([e.text for e in examples])))
        result = by_name(score_baselines(spec_for("classification", "builtin:sentiment"), CLASSIFICATION), split)["tfidf_logreg"]
        assert result.metrics["accuracy"] == pytest.approx(100 * accuracy_score(gold, expected))
        assert result.metrics["f1"] == pytest.approx(100 * f1_score(gold, expected, average="macro", zero_division=0))
        if split == "valid":
            assert [o["prediction"] for o in result.outputs] == expected
    assert result.description == f"{len(vectorizer.vocabulary_)} word 1-2 grams"  # the same features


# --- translation --------------------------------------------------------------------------------

TRANSLATION = Splits(
    train=[Seq2SeqExample("a b", "x y"), Seq2SeqExample("a c", "x z"), Seq2SeqExample("b c", "y z")],
    valid=[Seq2SeqExample("a b c", "x y z"), Seq2SeqExample("c a q", "z x q")],
    test=[Seq2SeqExample("b a", "y x")],
)


def test_word_by_word_learns_the_dictionary_by_co_occurrence_and_copies_unknown_words():
    import sacrebleu

    assert learn_dictionary(TRANSLATION.train) == {"a": "x", "b": "y", "c": "z"}
    result = by_name(score_baselines(spec_for("translation", "builtin:toylang"), TRANSLATION))["word_by_word"]
    predictions = [o["prediction"] for o in result.outputs]
    assert predictions == ["x y z", "z x q"]  # "q" is unknown: copied
    refs = [e.target for e in TRANSLATION.valid]
    assert result.metrics["chrf"] == pytest.approx(sacrebleu.corpus_chrf(predictions, [refs]).score)
    assert result.metrics["ter"] == pytest.approx(0.0)  # every word right


def test_dice_keeps_frequent_target_words_from_winning_every_source_word():
    pairs = [Seq2SeqExample("cat", "la neko"), Seq2SeqExample("dog", "la inu"), Seq2SeqExample("cat dog", "la neko inu")]
    # by raw counts "la" co-occurs with "cat" as often as "neko" does; Dice prefers "neko"
    assert learn_dictionary(pairs) == {"cat": "neko", "dog": "inu"}


@pytest.mark.parametrize("data", ["builtin:dates", "builtin:toylang"])
def test_copy_source_on_a_builtin_set_scores_what_sacrebleu_gives_on_source_vs_reference(data):
    import sacrebleu

    from tfcli.train.prepare import load_splits

    spec = spec_for("translation", data, data={"train_size": 50, "valid_size": 40, "test_size": 30})
    splits = load_splits(spec)
    results = compute_baselines(spec, splits, use_cache=False)
    for split in ("valid", "test"):
        examples = getattr(splits, split)
        sources, refs = [e.source for e in examples], [[e.target for e in examples]]
        copy = by_name(results, split)["copy_source"]
        assert copy.metrics["bleu"] == pytest.approx(sacrebleu.corpus_bleu(sources, refs).score)
        assert copy.metrics["chrf"] == pytest.approx(sacrebleu.corpus_chrf(sources, refs).score)
        assert copy.metrics["ter"] == pytest.approx(sacrebleu.corpus_ter(sources, refs).score)


# --- summarization ------------------------------------------------------------------------------

SUMMARIZATION = Splits(
    train=[Seq2SeqExample("x", "one two three"), Seq2SeqExample("y", "one two three four five")],
    valid=[Seq2SeqExample("the cat sat. It was warm! Then it left.", "the cat")],
    test=[Seq2SeqExample("dogs bark loudly at night. Cats do not.", "dogs bark")],
)


def test_lead_sentence_and_lead_words_on_a_tiny_split():
    results = by_name(score_baselines(spec_for("summarization", "builtin:headlines"), SUMMARIZATION))
    lead = results["lead_sentence"]
    assert [o["prediction"] for o in lead.outputs] == ["the cat sat."]
    # ROUGE-1 by hand: prediction {the, cat, sat}, reference {the, cat}: P=2/3, R=1, F=0.8
    assert lead.metrics["rouge1"] == pytest.approx(80.0)
    assert lead.metrics["rougeL"] == pytest.approx(80.0)
    words = results["lead_words"]
    assert "first 4 words" in words.description  # mean target length on train: (3 + 5) / 2
    assert [o["prediction"] for o in words.outputs] == ["the cat sat. It"]
    # P=2/4 ("It" counts, "sat." is "sat"), R=2/2: F = 2 * 0.5 / 1.5
    assert words.metrics["rouge1"] == pytest.approx(100 * 2 * 0.5 * 1 / 1.5)


# --- qa -----------------------------------------------------------------------------------------

CONTEXT = "Ana was born in Lima. Ana has lived in Oslo since 2001. Ben works in Rome."
QA = Splits(
    train=[QAExample(CONTEXT, "Where was Ana born?", ("Lima",), (16,), id="t0")],
    valid=[QAExample(CONTEXT, "Where does Ben work?", ("Rome",), (CONTEXT.index("Rome"),), id="v0"),
           QAExample(CONTEXT, "Since when has Ana lived in Oslo?", ("2001",), (CONTEXT.index("2001"),), id="v1")],
    test=[QAExample(CONTEXT, "Where was Ana born?", ("Lima",), (16,), id="s0")],
)


def test_the_first_sentence_wins_a_tie_of_overlap():
    from tfcli.baselines.qa import best_sentence

    # "Where does Ana live?": each of the first two sentences holds one question word, "ana"
    example = QAExample(CONTEXT, "Where does Ana live?", ("Oslo",), (CONTEXT.index("Oslo"),))
    start, end = best_sentence(example)
    assert CONTEXT[start:end] == "Ana was born in Lima."


def test_overlap_sentence_and_span_on_a_tiny_split():
    results = by_name(score_baselines(spec_for("qa", "builtin:facts"), QA))
    sentence = results["overlap_sentence"]
    assert [o["prediction"] for o in sentence.outputs] == ["Ben works in Rome.", "Ana has lived in Oslo since 2001."]
    assert sentence.metrics["exact_match"] == 0.0
    # token F1 by hand: "ben works in rome" vs "rome": P=1/4, R=1 -> 0.4; 7 tokens vs "2001": P=1/7 -> 0.25
    assert sentence.metrics["f1"] == pytest.approx(100 * (0.4 + 0.25) / 2)
    span = results["overlap_span"]
    # "Where does Ben work?": "works" is no question word (no stemming); every run after "Ben"
    # sees one question word around it, and the earliest, shortest one wins. "2001" is the only
    # run of non-question words of the second sentence (its full stop stripped).
    assert [o["prediction"] for o in span.outputs] == ["works", "2001"]
    assert (span.metrics["exact_match"], span.metrics["f1"]) == (pytest.approx(50.0), pytest.approx(50.0))
    assert [o["reference"] for o in span.outputs] == [["Rome"], ["2001"]]


# --- the best of several, the cache -------------------------------------------------------------


def test_best_baseline_follows_the_mode_and_the_split():
    results = [
        BaselineResult("a", "valid", {"ter": 50.0, "bleu": 10.0}),
        BaselineResult("b", "valid", {"ter": 40.0, "bleu": 5.0}),
        BaselineResult("c", "test", {"ter": 1.0, "bleu": 99.0}),
    ]
    assert best_baseline(results, "ter", "min").name == "b"
    assert best_baseline(results, "bleu", "max").name == "a"
    assert best_baseline(results, "loss", "min") is None


def test_results_are_cached_by_a_hash_of_the_data(monkeypatch, tmp_path):
    from tfcli.baselines import compute

    monkeypatch.setenv("TFCLI_CACHE", str(tmp_path))
    spec = spec_for("classification", "builtin:sentiment")
    first = compute_baselines(spec, CLASSIFICATION)
    assert len(list((tmp_path / "baselines").glob("*.json"))) == 1

    def no_scoring(*args, **kwargs):
        raise AssertionError("computed again although the data was seen")

    monkeypatch.setattr(compute, "score_baselines", no_scoring)
    again = compute_baselines(spec, CLASSIFICATION)
    assert again == first and [r.outputs for r in again] == [r.outputs for r in first]
    changed = Splits(train=CLASSIFICATION.train, valid=[*CLASSIFICATION.valid[:-1], ClassificationExample("good fool", "pos")], test=CLASSIFICATION.test)  # same length, other text
    with pytest.raises(AssertionError, match="computed again"):
        compute_baselines(spec, changed)
