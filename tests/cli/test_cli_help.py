"""The report, export, predict and ui commands: help text, and no heavy import for it."""

from __future__ import annotations

import pytest

from tests.cli.test_cli import HEAVY, _imported_after

pytestmark = pytest.mark.timeout(120)

COMMANDS = ("report", "export", "predict", "ui")


@pytest.mark.parametrize("command", COMMANDS)
def test_help_is_light_and_says_what_the_command_does(command, cli):
    result = cli(command, "--help")
    assert result.exit_code == 0, result.stderr
    assert "--tracking-uri" in result.stdout and "Usage: tfcli " + command in " ".join(result.stdout.split())
    loaded = _imported_after([command, "--help"])
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_root_help_lists_the_commands(cli):
    out = cli("--help").stdout
    for command in COMMANDS:
        assert f"  {command} " in out
