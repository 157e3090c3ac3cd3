"""The check every broken-study-file case makes: `tfcli study validate` exits 2 with exactly one
line, ``FILE:LINE: field.path: ...``, that names the problem."""

from __future__ import annotations


def assert_one_problem(cli, tmp_path, text: str, line: int, path: str, phrase: str) -> None:
    study = tmp_path / "broken.yaml"
    study.write_text(text)
    result = cli("study", "validate", study)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{study}:{line}: {path}: ") and phrase in lines[0], result.stderr
