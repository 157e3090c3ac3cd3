"""``tfcli --help`` lists the commands without importing them; the list says what each does."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tfcli.cli import COMMANDS, load_command

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_the_listed_line_is_the_commands_own_help(name):
    command = load_command(name)
    first_paragraph = " ".join(command.help.split("\n\n")[0].split())
    assert COMMANDS[name].summary == first_paragraph
    assert command.name == name


def test_root_help_imports_no_command_module():
    code = (
        "import sys\n"
        "from tfcli.cli import app\n"
        "try:\n"
        "    app(['--help'], prog_name='tfcli')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('MODULES:' + ' '.join(sorted(m for m in sys.modules if m.startswith('tfcli'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    line = [l for l in out.stdout.splitlines() if l.startswith("MODULES:")][-1]
    assert set(line[len("MODULES:"):].split()) == {"tfcli", "tfcli.cli", "tfcli.errors"}
    assert "Commands:" in out.stdout and all(f"  {name} " in out.stdout for name in COMMANDS)


def test_a_command_runs_and_a_typo_is_still_suggested(cli):
    assert cli("study", "--help").exit_code == 0
    typo = cli("stdy")
    assert typo.exit_code == 2 and "Did you mean 'study'?" in typo.stderr
