"""Reading user data files: TSV, JSONL, CSV, carving, and errors located by file:line."""

from __future__ import annotations

import json
import time

import pytest

from tfcli.data.examples import ClassificationExample, QAExample, Seq2SeqExample
from tfcli.data.files import infer_format, load_files, read_file
from tfcli.errors import DataError

pytestmark = pytest.mark.timeout(120)


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_tsv_seq2seq(tmp_path):
    p = write(tmp_path / "train.tsv", "hallo welt\thello world\r\n\nguten tag\tgood day\n")
    assert read_file("translation", p) == [
        Seq2SeqExample("hallo welt", "hello world"),
        Seq2SeqExample("guten tag", "good day"),
    ]


def test_tsv_classification(tmp_path):
    p = write(tmp_path / "train.tsv", "great film\tpos\nawful\tneg\n")
    assert read_file("classification", p) == [
        ClassificationExample("great film", "pos"), ClassificationExample("awful", "neg")
    ]


def test_tsv_malformed_line_names_file_and_line(tmp_path):
    lines = [f"a{i}\tb{i}" for i in range(16)] + ["x\ty\tz"]
    p = write(tmp_path / "train.tsv", "\n".join(lines) + "\n")
    with pytest.raises(DataError) as err:
        read_file("translation", p)
    assert str(err.value) == f"{p}:17: expected 2 tab-separated fields, got 3"


def test_tsv_empty_field(tmp_path):
    p = write(tmp_path / "train.tsv", "a\tb\n \tb\n")
    with pytest.raises(DataError, match=r"train.tsv:2: empty source"):
        read_file("translation", p)


def test_jsonl_all_tasks(tmp_path):
    p = write(tmp_path / "a.jsonl", json.dumps({"source": "s", "target": "t"}) + "\n")
    assert read_file("summarization", p) == [Seq2SeqExample("s", "t")]
    p = write(tmp_path / "b.jsonl", json.dumps({"text": "x", "label": 1}) + "\n")
    assert read_file("classification", p) == [ClassificationExample("x", "1")]
    ctx = "Ann lives in Oslo. Bob lives in Lima."
    rows = [
        {"context": ctx, "question": "Where does Bob live?", "answers": ["Lima"]},
        {"context": ctx, "question": "Where?", "answers": [{"text": "Oslo", "answer_start": 13}],
         "id": "q2"},
        {"context": ctx, "question": "Who?", "answers": {"text": ["Bob"], "answer_start": [19]}},
    ]
    p = write(tmp_path / "qa.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
    got = read_file("qa", p)
    assert got[0] == QAExample(ctx, "Where does Bob live?", ("Lima",), (32,), id=f"{p}:1")
    assert got[1].answer_starts == (13,) and got[1].id == "q2"
    assert got[2].answers == ("Bob",) and got[2].answer_starts == (19,)
    for ex in got:
        for a, s in zip(ex.answers, ex.answer_starts):
            assert ex.context[s:s + len(a)] == a


def test_jsonl_errors(tmp_path):
    p = write(tmp_path / "t.jsonl", '{"source": "a", "target": "b"}\n{"source": "a"\n')
    with pytest.raises(DataError, match=r"t.jsonl:2: invalid JSON"):
        read_file("translation", p)
    p = write(tmp_path / "u.jsonl", '{"source": "a", "target": "b"}\n\n{"source": "a"}\n')
    with pytest.raises(DataError, match=r"u.jsonl:3: missing key 'target'"):
        read_file("translation", p)
    p = write(tmp_path / "v.jsonl", '[1, 2]\n')
    with pytest.raises(DataError, match=r"v.jsonl:1: expected a JSON object"):
        read_file("translation", p)


def test_qa_answer_not_in_context(tmp_path):
    rows = [
        {"context": "Ann lives in Oslo.", "question": "Where?", "answers": ["Oslo"]},
        {"context": "Ann lives in Oslo.", "question": "Where?", "answers": ["Lima"]},
    ]
    p = write(tmp_path / "qa.jsonl", "\n".join(json.dumps(r) for r in rows))
    with pytest.raises(DataError, match=r"qa.jsonl:2: answer 'Lima' not found in its context"):
        read_file("qa", p)
    rows = [{"context": "Ann lives in Oslo.", "question": "Where?",
             "answers": [{"text": "Oslo", "answer_start": 3}]}]
    p = write(tmp_path / "qb.jsonl", json.dumps(rows[0]))
    with pytest.raises(DataError, match=r"qb.jsonl:1: answer 'Oslo' not found in its context at answer_start=3"):
        read_file("qa", p)


def test_csv_with_column_mapping(tmp_path):
    p = write(tmp_path / "train.csv", 'id,de,en\n1,"hallo, welt",hello world\n2,tag,day\n')
    got = read_file("translation", p, columns={"source": "de", "target": "en"})
    assert got == [Seq2SeqExample("hallo, welt", "hello world"), Seq2SeqExample("tag", "day")]


def test_csv_errors(tmp_path):
    p = write(tmp_path / "train.csv", "de,en\na,b\nc,d,e\n")
    with pytest.raises(DataError, match=r"train.csv:3: expected 2 comma-separated fields, got 3"):
        read_file("translation", p, columns={"source": "de", "target": "en"})
    p = write(tmp_path / "nohead.csv", "a,b\n")
    with pytest.raises(DataError, match=r"nohead.csv:1: the header row must name the columns source, target"):
        read_file("translation", p)
    with pytest.raises(DataError, match="columns for task translation may name"):
        read_file("translation", p, columns={"text": "a"})


def test_csv_qa(tmp_path):
    p = write(tmp_path / "qa.csv", "context,question,answers\nAnn lives in Oslo.,Where?,Oslo\n")
    assert read_file("qa", p) == [QAExample("Ann lives in Oslo.", "Where?", ("Oslo",), (13,), id=f"{p}:2")]


def test_missing_and_empty_files(tmp_path):
    missing = str(tmp_path / "nope.tsv")
    with pytest.raises(DataError, match=r"nope.tsv: no such file"):
        read_file("translation", missing)
    empty = write(tmp_path / "empty.tsv", "\n\n")
    with pytest.raises(DataError, match=r"empty.tsv: no examples"):
        read_file("translation", empty)
    bad = tmp_path / "bin.tsv"
    bad.write_bytes(b"\xff\xfe\x00a\tb\n")
    with pytest.raises(DataError, match=r"bin.tsv:1: not UTF-8"):
        read_file("translation", str(bad))


def test_format_inference(tmp_path):
    assert infer_format("a.TSV") == "tsv" and infer_format("x.jsonl") == "jsonl"
    assert infer_format("x.csv") == "csv"
    with pytest.raises(DataError, match="cannot tell the format"):
        infer_format("data.parquet")
    p = write(tmp_path / "data.dat", "a\tb\n")
    assert read_file("translation", p, format="tsv") == [Seq2SeqExample("a", "b")]
    with pytest.raises(DataError, match="qa data cannot be read from tsv"):
        read_file("qa", p, format="tsv")


def test_load_files_carves_valid_and_test(tmp_path):
    p = write(tmp_path / "train.tsv", "".join(f"s{i}\tt{i}\n" for i in range(100)))
    a = load_files("translation", train=p, seed=0)
    b = load_files("translation", train=p, seed=0)
    c = load_files("translation", train=p, seed=1)
    assert a == b and a.valid != c.valid
    assert a.sizes() == {"train": 90, "valid": 5, "test": 5}
    keys = [set(e.source for e in exs) for _, exs in a]
    assert not (keys[0] & keys[1]) and not (keys[0] & keys[2]) and not (keys[1] & keys[2])
    assert len(keys[0] | keys[1] | keys[2]) == 100


def test_load_files_with_given_splits(tmp_path):
    tr = write(tmp_path / "train.tsv", "".join(f"s{i}\tt{i}\n" for i in range(10)))
    va = write(tmp_path / "valid.tsv", "v\tw\n")
    s = load_files("translation", train=tr, valid=va)
    assert s.sizes() == {"train": 9, "valid": 1, "test": 1}  # only test carved, at least 1
    tiny = write(tmp_path / "tiny.tsv", "a\tb\nc\td\n")
    with pytest.raises(DataError, match="too few to carve a valid and a test set"):
        load_files("translation", train=tiny)


def test_a_byte_that_is_not_utf8_is_located_by_line_and_column(tmp_path):
    bad = tmp_path / "latin1.tsv"
    bad.write_bytes("a\tb\nc\td\nca\u00e7a\tx\n".encode("latin-1"))
    with pytest.raises(DataError) as err:
        read_file("translation", str(bad))
    assert str(err.value).startswith(f"{bad}:3: not UTF-8 text (invalid continuation byte at column 3)")


def test_a_line_with_a_separator_is_a_record_even_if_its_fields_are_only_spaces(tmp_path):
    """Issue 27: ``"   \\t   "`` was skipped as a blank line; it is a record with empty fields."""
    p = write(tmp_path / "train.tsv", "a\tb\n   \t   \n")
    with pytest.raises(DataError) as err:
        read_file("translation", p)
    assert str(err.value) == f"{p}:2: empty source (only spaces)"
    p = write(tmp_path / "train.csv", "source,target\na,b\n  ,  \n")
    with pytest.raises(DataError) as err:
        read_file("translation", p)
    assert str(err.value) == f"{p}:3: empty source (only spaces)"
    p = write(tmp_path / "quoted.csv", 'text,label\na,b\n"",""\n')
    with pytest.raises(DataError, match=r"quoted.csv:3: empty text$"):
        read_file("classification", p)
    p = write(tmp_path / "train.jsonl", '{"source": "a", "target": "b"}\n{"source": "  ", "target": "\\t"}\n')
    with pytest.raises(DataError, match=r"train.jsonl:2: empty source \(only spaces\)"):
        read_file("translation", p)


def test_a_line_of_only_spaces_without_a_separator_is_still_blank(tmp_path):
    p = write(tmp_path / "train.tsv", "a\tb\n   \n\r\nc\td\n")
    assert read_file("translation", p) == [Seq2SeqExample("a", "b"), Seq2SeqExample("c", "d")]
    p = write(tmp_path / "train.csv", "source,target\na,b\n   \n\nc,d\n")
    assert read_file("translation", p) == [Seq2SeqExample("a", "b"), Seq2SeqExample("c", "d")]
    p = write(tmp_path / "train.jsonl", '{"source": "a", "target": "b"}\n  \t \n')
    assert read_file("translation", p) == [Seq2SeqExample("a", "b")]


@pytest.mark.parametrize(
    "name,line",
    [
        ("t.tsv", "{long}\tb"),
        ("t.jsonl", '{{"source": "{long}", "target": "b"}}'),
        ("t.csv", "{long},b"),
    ],
)
def test_a_line_longer_than_the_limit_is_refused_with_its_length_and_the_setting(tmp_path, name, line):
    header = "source,target\n" if name.endswith(".csv") else ""
    good = line.format(long="a" * 10)
    p = write(tmp_path / name, header + good + "\n" + line.format(long="x" * 200) + "\n")
    length = len(line.format(long="x" * 200))
    with pytest.raises(DataError) as err:
        read_file("translation", p, max_line_length=100)
    assert str(err.value) == (
        f"{p}:{2 + bool(header)}: a line of {length:,} characters is longer than data.max_line_length (100); "
        "shorten or remove it, or raise data.max_line_length in the study file"
    )
    assert len(read_file("translation", p, max_line_length=length)) == 2  # the limit is inclusive


def test_a_line_break_is_not_counted(tmp_path):
    p = write(tmp_path / "t.tsv", "a\tb\r\n" + "x" * 98 + "\ty\r\n")
    assert len(read_file("translation", p, max_line_length=100)) == 2
    with pytest.raises(DataError, match=r"t.tsv:2: a line of 100 characters is longer than data.max_line_length \(99\)"):
        read_file("translation", p, max_line_length=99)


def test_a_csv_field_over_the_limit_is_refused_even_across_lines(tmp_path):
    """A quoted CSV field may span lines, each short: the field itself is measured, past the
    csv module's own 131,072-character limit too."""
    field = "word\n" * 40_000
    p = write(tmp_path / "t.csv", f'source,target\na,b\n"{field}",c\n')
    with pytest.raises(DataError) as err:
        read_file("translation", p, max_line_length=1_000)
    assert str(err.value).startswith(f"{p}:40003: a field of 200,000 characters is longer than data.max_line_length (1,000)")
    assert read_file("translation", p, max_line_length=200_000)[1] == Seq2SeqExample(field, "c")


def test_a_ten_megabyte_line_is_refused_quickly_by_default(tmp_path):
    p = write(tmp_path / "t.tsv", "a\tb\n" * 1000 + "x" * 10_000_000 + "\ty\n")
    started = time.perf_counter()
    with pytest.raises(DataError, match=r"t.tsv:1001: a line of 10,000,002 characters is longer than data.max_line_length \(100,000\)"):
        read_file("translation", p)
    assert time.perf_counter() - started < 1.0
