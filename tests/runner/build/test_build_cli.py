"""The build CLI's edges that need no engine: bad input, wrong state, nothing ready, safe rendering."""

from __future__ import annotations

import json

import pytest
from tests.runner.build.build_support import FAKE_KEY, add_task, cli, configure, db_rows


@pytest.fixture
def in_repo(repo, monkeypatch):
    monkeypatch.chdir(repo)
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    configure(repo, "http://127.0.0.1:9/v1")
    return repo


def test_nothing_ready_is_success_with_a_clear_note(in_repo, capsys):
    code, out, _ = cli(capsys, "build", "next")
    assert code == 0 and "no task is ready" in out
    code, out, _ = cli(capsys, "--json", "build", "all")
    assert code == 0 and json.loads(out) == {"results": []}


def test_unknown_task_id_is_invalid_input(in_repo, capsys):
    code, _, err = cli(capsys, "build", "task", "01ZZZZZZZZZZZZZZZZZZZZZZZZ")
    assert code == 2 and err.count("\n") == 1 and "no task" in err


def test_empty_run_text_is_invalid_input(in_repo, capsys):
    code, _, err = cli(capsys, "run", "   ")
    assert code == 2 and "task id or a description" in err


def test_a_task_with_unfinished_dependencies_is_refused_by_id(in_repo, capsys):
    first = add_task(capsys, "first")
    code, out, err = cli(capsys, "--json", "task", "add", "second", "--depends-on", first)
    second = json.loads(out)["task"]["id"]
    code, _, err = cli(capsys, "build", "task", second)
    assert code == 5 and "waits for dependencies" in err and first in err
    assert db_rows(in_repo, "SELECT status FROM tasks WHERE id = ?", second) == [("pending",)]


def test_scaffold_needs_the_scaffolding_state(in_repo, capsys):
    code, _, err = cli(capsys, "scaffold")
    assert code == 5 and "SCAFFOLDING" in err


def test_results_render_model_text_verbatim_not_as_markup(capsys):
    from runner.build.result import BuildResult
    from runner.cli.build import render_result
    from runner.cli.context import AppContext

    result = BuildResult(task_id="T", title="Write [b]bold[/b] and [/x]", status="blocked", outcome="blocked",
                         error="blocked: [red]x[/red] [/nope]", exit_code=3, gate_decision="block",
                         findings=[{"gate": "security", "rule": "[/r]", "file": "a.py", "line": 1, "blocking": True,
                                   "message": "a finding"}])
    render_result(AppContext(no_color=True), result)
    out = capsys.readouterr().out
    assert "Write [b]bold[/b] and [/x]" in out and "[red]x[/red] [/nope]" in out and "security/[/r] a.py:1" in out
