"""``tfcli score``: tables, JSON, every input shape, the paired test, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tfcli.metrics import METEOR_NOTE, MetricSettings, compute_metrics, paired_bootstrap_many

pytestmark = pytest.mark.timeout(120)

HYPS = ["the cat sat on the mat", "a quick brown fox", "hello world"]
REFS = ["the cat is on the mat", "the quick brown fox", "hello big world"]
REFS2 = ["a cat sat on a mat", "", "hello world"]
BASELINE = ["a dog", "the slow fox", "goodbye"]


def run(*args: object, columns: int = 200):
    from tfcli.cli import app

    return CliRunner().invoke(app, ["score", *map(str, args)], env={"COLUMNS": str(columns)})


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def jsonl(path: Path, values: list) -> Path:
    return write(path, [json.dumps(v, ensure_ascii=False) for v in values])


@pytest.fixture
def files(tmp_path):
    return {
        "hyp": write(tmp_path / "hyp.txt", HYPS),
        "ref": write(tmp_path / "ref.txt", REFS),
        "ref2": write(tmp_path / "ref2.txt", REFS2),
        "base": write(tmp_path / "base.txt", BASELINE),
    }


def payload(result) -> dict:
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, result.stdout
    return json.loads(lines[0])


def assert_user_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    message = result.stderr.strip()
    assert message.startswith("error: ") and "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_table_by_default(files):
    result = run("--task", "translation", "--hyp", files["hyp"], "--ref", files["ref"])
    assert result.exit_code == 0, result.output
    expected = compute_metrics("translation", HYPS, [[r] for r in REFS])
    for name, value in expected.scores.items():
        row = next(line for line in result.stdout.splitlines() if f" {name} " in line)
        assert f"{value:.2f}" in row and expected.signatures[name] in row
    assert f"note: {METEOR_NOTE}" in result.stdout
    assert not result.stdout.lstrip().startswith("{")


def test_json_is_one_object_with_the_library_scores(files):
    data = payload(run("-t", "translation", "--hyp", files["hyp"], "--ref", files["ref"], "--format", "json"))
    expected = compute_metrics("translation", HYPS, [[r] for r in REFS])
    assert data["scores"] == pytest.approx(expected.scores)
    assert data["signatures"] == expected.signatures
    assert data["notes"] == [METEOR_NOTE]
    assert data["examples"] == 3 and data["task"] == "translation"
    assert data["settings"] == MetricSettings().to_dict()


def test_several_refs_and_a_blank_line_meaning_no_reference(files):
    data = payload(run("-t", "translation", "--hyp", files["hyp"], "--ref", files["ref"], "--ref", files["ref2"], "-f", "json"))
    references = [[REFS[0], REFS2[0]], [REFS[1]], [REFS[2], REFS2[2]]]
    assert data["scores"] == pytest.approx(compute_metrics("translation", HYPS, references).scores)
    assert "nrefs:var" in data["signatures"]["bleu"]


def test_metric_selection_and_settings(tmp_path):
    hyp = write(tmp_path / "h.txt", ["我爱北京", "今天天气很好"])
    ref = write(tmp_path / "r.txt", ["我爱上海", "今天天气不错"])
    data = payload(
        run("-t", "summarization", "--hyp", hyp, "--ref", ref, "-m", "rouge1,bleu", "--metric", "rougeL",
            "--bleu-tokenize", "zh", "--rouge-tokenizer", "cjk", "-f", "json")
    )
    assert list(data["scores"]) == ["rouge1", "bleu", "rougeL"]
    settings = MetricSettings(bleu_tokenize="zh", rouge_tokenizer="cjk")
    expected = compute_metrics("summarization", ["我爱北京", "今天天气很好"], [["我爱上海"], ["今天天气不错"]], settings, ["rouge1", "bleu", "rougeL"])
    assert data["scores"] == pytest.approx(expected.scores)
    assert data["scores"]["rouge1"] > 0 and "tok:zh" in data["signatures"]["bleu"]


def test_sentence_separator_feeds_rouge_lsum(tmp_path):
    hyp = write(tmp_path / "h.txt", ["a b <n> c d"])
    ref = write(tmp_path / "r.txt", ["c d <n> a b"])
    plain = payload(run("-t", "summarization", "--hyp", hyp, "--ref", ref, "-m", "rougeLsum", "-f", "json"))
    split = payload(run("-t", "summarization", "--hyp", hyp, "--ref", ref, "-m", "rougeLsum", "--sentence-sep", "<n>", "-f", "json"))
    assert plain["scores"]["rougeLsum"] == pytest.approx(40.0)  # one sentence of 5 tokens, LCS 2
    assert split["scores"]["rougeLsum"] == pytest.approx(100.0)


def test_classification_jsonl_shapes_and_per_class_table(tmp_path):
    hyp = jsonl(tmp_path / "h.jsonl", [{"label": "pos"}, "neg", {"prediction": "pos"}, 1])
    ref = jsonl(tmp_path / "r.jsonl", ["pos", {"label": "pos", "id": 7}, "neu", "1"])
    data = payload(run("-t", "classification", "--hyp", hyp, "--ref", ref, "-f", "json"))
    expected = compute_metrics("classification", ["pos", "neg", "pos", "1"], ["pos", "pos", "neu", "1"])
    assert data["scores"] == pytest.approx(expected.scores)
    assert data["details"]["per_class"]["neu"]["predicted"] == 0
    table = run("-t", "classification", "--hyp", hyp, "--ref", ref)
    assert table.exit_code == 0, table.output
    assert "per class" in table.stdout and "never predicted: neu" in table.stdout


def test_labels_are_shown_literally_and_notes_name_their_system(tmp_path):
    hyp = jsonl(tmp_path / "h.jsonl", ["[bold]x[/bold]", "y"])
    base = jsonl(tmp_path / "b.jsonl", ["y", "y"])
    ref = jsonl(tmp_path / "r.jsonl", ["[bold]x[/bold]", "y"])
    table = run("-t", "classification", "--hyp", hyp, "--ref", ref)
    assert table.exit_code == 0, table.output
    assert "[bold]x[/bold]" in table.stdout
    compared = run("-t", "classification", "--hyp", hyp, "--ref", ref, "--against", base, "-m", "accuracy", "--resamples", "50")
    assert compared.exit_code == 0, compared.output
    assert "note: A: precision is taken as 0 for labels never predicted: [bold]x[/bold]" in compared.stdout


def test_qa_jsonl_shapes(tmp_path):
    hyp = jsonl(tmp_path / "h.jsonl", ["Denver Broncos", {"prediction": "1889"}, "", "北京"])
    ref = jsonl(tmp_path / "r.jsonl", [
        ["Broncos", "Denver Broncos"],
        {"answers": {"text": ["in 1889"], "answer_start": [3]}},
        {"answers": []},
        "北京",
    ])
    ref2 = jsonl(tmp_path / "r2.jsonl", [[], [{"text": "1889"}], [], []])
    v2 = ("--qa-rules", "squad_v2")  # line 3 is unanswerable
    data = payload(run("-t", "qa", "--hyp", hyp, "--ref", ref, "--ref", ref2, "-f", "json", *v2))
    assert data["scores"] == {"exact_match": pytest.approx(100.0), "f1": pytest.approx(100.0)}
    one_ref = payload(run("-t", "qa", "--hyp", hyp, "--ref", ref, "-f", "json", *v2))
    assert one_ref["scores"]["exact_match"] == pytest.approx(75.0)


def test_against_runs_the_paired_test(files):
    data = payload(run("-t", "translation", "--hyp", files["hyp"], "--ref", files["ref"], "--against", files["base"],
                       "--resamples", "200", "--seed", "3", "-f", "json"))
    settings = MetricSettings(bootstrap_resamples=200, bootstrap_seed=3)
    references = [[r] for r in REFS]
    expected = paired_bootstrap_many("translation", BASELINE, HYPS, references, None, settings)
    assert set(data["paired"]) == {"bleu", "chrf", "ter", "meteor"}
    for name, test in expected.items():
        assert data["paired"][name] == pytest.approx(test.to_dict())
    assert data["paired"]["chrf"]["diff"] > 0  # --hyp (B) is the better system
    assert data["against"]["file"] == str(files["base"])
    assert data["against"]["scores"] == pytest.approx(compute_metrics("translation", BASELINE, references).scores)

    table = run("-t", "translation", "--hyp", files["hyp"], "--ref", files["ref"], "--against", files["base"], "--resamples", "200")
    assert table.exit_code == 0, table.output
    assert "B - A" in table.stdout and "200 resamples, seed 12345" in table.stdout
    assert f"note: {METEOR_NOTE}" in table.stdout


def test_against_itself_is_not_significant(files):
    data = payload(run("-t", "translation", "--hyp", files["hyp"], "--ref", files["ref"], "--against", files["hyp"], "-m", "bleu", "-f", "json"))
    assert data["paired"]["bleu"]["p_value"] == 1.0 and data["paired"]["bleu"]["significant"] is False


def test_crlf_bom_and_unicode_lines(tmp_path):
    hyp = tmp_path / "h.txt"
    hyp.write_bytes("\ufeffçа va\r\nnaïve\r\n".encode("utf-8"))
    ref = write(tmp_path / "r.txt", ["çа va", "naïve"])
    data = payload(run("-t", "translation", "--hyp", hyp, "--ref", ref, "-m", "bleu,chrf", "-f", "json"))
    assert data["examples"] == 2 and data["scores"]["chrf"] == pytest.approx(100.0)


# --------------------------------------------------------------------------- errors


def test_missing_file(files, tmp_path):
    missing = tmp_path / "nope.txt"
    assert_user_error(run("-t", "translation", "--hyp", missing, "--ref", files["ref"]), "--hyp", str(missing))
    assert_user_error(run("-t", "translation", "--hyp", files["hyp"], "--ref", missing), "--ref", str(missing))
    assert_user_error(run("-t", "translation", "--hyp", files["hyp"], "--ref", files["ref"], "--against", missing), "--against", str(missing))


def test_line_counts_that_differ(files, tmp_path):
    short = write(tmp_path / "short.txt", REFS[:2])
    assert_user_error(run("-t", "translation", "--hyp", files["hyp"], "--ref", short), str(short), str(files["hyp"]), "2 lines")
    assert_user_error(run("-t", "translation", "--hyp", files["hyp"], "--ref", files["ref"], "--against", short), str(short))


def test_unknown_metric_for_the_task(files):
    assert_user_error(
        run("-t", "translation", "--hyp", files["hyp"], "--ref", files["ref"], "-m", "rouge1"),
        "'rouge1'", "bleu, chrf, ter, meteor",
    )


@pytest.mark.parametrize(
    "extra, fragments",
    [
        (["--bleu-tokenize", "moses"], ["bleu_tokenize", "'moses'"]),
        (["--rouge-tokenizer", "jieba"], ["rouge_tokenizer", "'jieba'"]),
        (["--resamples", "0"], ["bootstrap_resamples", "0"]),
    ],
)
def test_bad_settings(files, extra, fragments):
    assert_user_error(run("-t", "summarization", "--hyp", files["hyp"], "--ref", files["ref"], *extra), *fragments)


def test_unknown_task(files):
    assert_user_error(run("-t", "parsing", "--hyp", files["hyp"], "--ref", files["ref"]), "task must be one of", "'parsing'")


def test_bad_jsonl_line_names_file_and_line(tmp_path):
    hyp = write(tmp_path / "h.jsonl", ['"pos"', "{not json", '"neg"'])
    ref = jsonl(tmp_path / "r.jsonl", ["pos", "neg", "neg"])
    assert_user_error(run("-t", "classification", "--hyp", hyp, "--ref", ref), f"{hyp}:2:", "{not json")
    qa_ref = jsonl(tmp_path / "q.jsonl", [["a"], {"answer": "b"}, ["c"]])
    qa_hyp = jsonl(tmp_path / "qh.jsonl", ["a", "b", "c"])
    assert_user_error(run("-t", "qa", "--hyp", qa_hyp, "--ref", qa_ref), f"{qa_ref}:2:", '"answers"')
    bad_label = jsonl(tmp_path / "b.jsonl", ["pos", ["list"], "neg"])
    assert_user_error(run("-t", "classification", "--hyp", bad_label, "--ref", ref), f"{bad_label}:2:")
    no_label = jsonl(tmp_path / "n.jsonl", ["pos", "neg", {"text": "no label key"}])
    assert_user_error(run("-t", "classification", "--hyp", no_label, "--ref", ref), f"{no_label}:3:", '{"label": ...}')


def test_classification_takes_one_ref(tmp_path):
    hyp = jsonl(tmp_path / "h.jsonl", ["a"])
    assert_user_error(run("-t", "classification", "--hyp", hyp, "--ref", hyp, "--ref", hyp), "exactly one --ref", "got 2")


def test_empty_and_non_utf8_files(files, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert_user_error(run("-t", "translation", "--hyp", empty, "--ref", files["ref"]), str(empty), "empty")
    latin = tmp_path / "latin.txt"
    latin.write_bytes("ok\ncaf\xe9\n".encode("latin-1"))
    assert_user_error(run("-t", "translation", "--hyp", latin, "--ref", files["ref"]), f"{latin}:2:", "UTF-8")


def test_directory_instead_of_file(files, tmp_path):
    assert_user_error(run("-t", "translation", "--hyp", tmp_path, "--ref", files["ref"]), str(tmp_path), "directory")


def test_help_documents_the_input_shapes():
    result = run("--help")
    assert result.exit_code == 0
    for fragment in ('{"label": ...}', '{"prediction": "..."}', '{"answers": [...]}', "--against", "--bleu-tokenize", "--rouge-tokenizer", "--resamples", "--seed"):
        assert fragment in result.stdout, fragment
