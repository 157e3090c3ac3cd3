"""The metric options added for issue 24: chrF lowercase and whitespace, ROUGE-Lsum sentence
splitting (rouge-score's split_summaries), as study fields and as the API's settings."""

from __future__ import annotations

import pytest

from tfcli.errors import MetricError, StudySpecError
from tfcli.metrics import MetricSettings, compute_metrics
from tfcli.spec.load import load_spec_text

pytestmark = pytest.mark.timeout(120)

STUDY = "name: opts\ntask: {type: summarization, data: 'builtin:headlines'}\neval:\n  %s: %s\n"
SUMMARY = ["Second sentence. First Sentence."]
TARGET = [["First sentence. Second Sentence."]]


@pytest.mark.parametrize("field", ["chrf_lowercase", "chrf_whitespace", "rouge_split_summaries"])
def test_a_study_sets_them_and_a_bad_value_names_its_line(field):
    spec = load_spec_text(STUDY % (field, "true"), "opts.yaml")
    assert getattr(MetricSettings.from_eval(spec.eval), field) is True
    assert getattr(MetricSettings.from_eval({}), field) is False
    with pytest.raises(StudySpecError, match=rf"opts.yaml:4.*{field}"):
        load_spec_text(STUDY % (field, "sometimes"), "opts.yaml")


def test_split_summaries_splits_with_nltk_and_says_so(punkt_model):
    split = compute_metrics("summarization", SUMMARY, TARGET, MetricSettings(rouge_split_summaries=True), ["rougeLsum"])
    newline = compute_metrics("summarization", SUMMARY, TARGET, MetricSettings(), ["rougeLsum"])
    assert (split.scores["rougeLsum"], newline.scores["rougeLsum"]) == (100.0, 50.0)
    assert "|lsum:nltk-punkt|" in split.signatures["rougeLsum"]
    assert "|lsum:newline|" in newline.signatures["rougeLsum"]


def test_split_summaries_without_nltks_sentence_model_is_one_clear_error(no_punkt_model, cli, tmp_path):
    settings = MetricSettings(rouge_split_summaries=True)
    with pytest.raises(MetricError, match="python -m nltk.downloader punkt_tab"):
        compute_metrics("summarization", SUMMARY, TARGET, settings, ["rougeLsum"])
    # the other ROUGE types never split sentences, so they need no model
    assert compute_metrics("summarization", SUMMARY, TARGET, settings, ["rouge1"]).scores["rouge1"] == 100.0
    hyp, ref = tmp_path / "h.txt", tmp_path / "r.txt"
    hyp.write_text(SUMMARY[0] + "\n", encoding="utf-8")
    ref.write_text(TARGET[0][0] + "\n", encoding="utf-8")
    result = cli("score", "-t", "summarization", "--hyp", hyp, "--ref", ref, "-m", "rougeLsum", "--split-summaries")
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1 and "punkt_tab" in result.output


@pytest.mark.parametrize("name", ["chrf_lowercase", "chrf_whitespace", "rouge_split_summaries"])
def test_a_setting_that_is_not_a_boolean_is_refused(name):
    with pytest.raises(MetricError, match="must be true or false"):
        MetricSettings(**{name: "yes"}).validate()
