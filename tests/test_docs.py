"""Docs are tested: every command has --help, and every command appears in the README."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.cli.app import build_command
from runner.cli.main import main

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _walk(command, prefix=()):
    subcommands = getattr(command, "commands", None)
    if not subcommands:
        yield prefix
        return
    for name, sub in sorted(subcommands.items()):
        yield from _walk(sub, (*prefix, name))


COMMANDS = [path for path in _walk(build_command()) if path]


def test_the_cli_has_the_core_commands():
    names = {" ".join(path) for path in COMMANDS}
    assert {"init", "doctor", "sandbox run", "images build"} <= names


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p))
def test_every_command_has_help(path, capsys):
    assert main([*path, "--help"]) == 0
    out = capsys.readouterr().out
    assert "Usage:" in out and path[-1] in out


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p))
def test_every_command_is_in_the_readme(path):
    assert f"codex-sandbox {' '.join(path)}" in README, f"README does not mention `codex-sandbox {' '.join(path)}`"
