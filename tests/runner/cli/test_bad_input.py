"""Bad input: one clear line, the right exit code, and nothing under .codex/ changes."""

import pytest
from tests.runner.cli.lifecycle_cli_support import cli, snapshot

from runner.state.store import Store


@pytest.fixture
def here(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-bad-input-0000000000000000")
    assert cli(capsys, "task", "add", "existing work")[0] == 0  # a store with some state, and a lock file
    return repo


def refused(capsys, root, expected_code, *args, match=""):
    before = snapshot(root)
    assert before  # there is state to protect
    code, out, err = cli(capsys, *args)
    assert code == expected_code, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert match in lines[0]
    assert "Traceback" not in err + out
    assert snapshot(root) == before
    return lines[0]


def test_missing_prd(here, capsys):
    refused(capsys, here, 2, "plan", "generate", "nope.md", match="PRD file not found: nope.md")


def test_empty_prd(here, capsys):
    (here / "PRD.md").write_text("  \n\n")
    refused(capsys, here, 2, "plan", "generate", "PRD.md", match="is empty")


def test_binary_prd(here, capsys):
    (here / "PRD.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    refused(capsys, here, 2, "plan", "generate", "PRD.md", match="binary")


def test_prd_is_a_directory(here, capsys):
    (here / "docs").mkdir()
    refused(capsys, here, 2, "plan", "generate", "docs", match="not a file")


def test_config_file_with_a_wrong_type(here, capsys):
    (here / ".codex" / "config.yaml").write_text("sandbox:\n  pool_size: many\n")
    (here / "PRD.md").write_text("# PRD\n")
    refused(capsys, here, 2, "plan", "generate", "PRD.md", match="'sandbox.pool_size'")
    refused(capsys, here, 2, "config", "validate", match="pool_size")


def test_config_file_with_an_unknown_key(here, capsys):
    (here / ".codex" / "config.yaml").write_text("llm:\n  modle: gpt\n")
    refused(capsys, here, 2, "config", "validate", match="llm.modle")
    refused(capsys, here, 2, "config", "show", match="llm.modle")


def test_config_set_wrong_type_and_unknown_key(here, capsys):
    refused(capsys, here, 2, "config", "set", "sandbox.pool_size", "lots", match="valid integer")
    refused(capsys, here, 2, "config", "set", "sandbox.pool_sise", "3", match="unknown config key 'sandbox.pool_sise'")
    refused(capsys, here, 2, "config", "set", "llm.mode", "sometimes", match="llm.mode")


def test_commands_in_the_wrong_state(here, capsys):
    refused(capsys, here, 5, "plan", "approve", match="not allowed in state IDLE")
    refused(capsys, here, 5, "plan", "revise", "more tests", match="not allowed in state IDLE")
    refused(capsys, here, 5, "reset", match="allowed in FAILED")
    with Store.open(here) as s:
        s.set_lifecycle_state("FAILED", "test")
    refused(capsys, here, 5, "task", "add", "more", match="reset")
    (here / "PRD.md").write_text("# PRD\n")
    refused(capsys, here, 5, "plan", "generate", "PRD.md", match="state FAILED")


def test_bad_task_arguments(here, capsys):
    refused(capsys, here, 2, "task", "add", "x", "--type", "dance", match="unknown task type 'dance'")
    refused(capsys, here, 2, "task", "add", "x", "--depends-on", "NOSUCHTASK", match="no task with id")
    refused(capsys, here, 2, "task", "add", "x", "--target-file", "../etc/passwd", match="inside the repository")
    refused(capsys, here, 2, "task", "add", "   ", match="empty")
    refused(capsys, here, 2, "task", "list", "--status", "weird", match="unknown status")
    refused(capsys, here, 2, "history", "--since", "yesterday-ish", match="--since")
