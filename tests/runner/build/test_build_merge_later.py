"""A task whose commit exists but could not be merged keeps it: the next build merges it, no model call."""

from __future__ import annotations

import json

import pytest
from tests.runner.build.build_support import (
    add_task,
    branch_exists,
    cli,
    configure,
    db_rows,
    git,
    leftover_containers,
    live_worktrees,
)

from sandbox.scripted_model.server import ScriptedModelServer

pytestmark = pytest.mark.docker

WRITE = {"responses": [{"exec": "echo done > result.txt"}, {"message": "wrote result.txt"}]}


def _error(result: dict) -> str:
    """The failure's message (under --json the one document carries it as error.message)."""
    err = result["error"]
    return err["message"] if isinstance(err, dict) else err


def _refused_merge(repo, capsys) -> tuple[str, dict]:
    """Build a task whose merge is refused: the user has an untracked result.txt where the commit adds one."""
    (repo / "result.txt").write_text("mine\n")
    with ScriptedModelServer(WRITE) as model:
        configure(repo, model.base_url)
        task_id = add_task(capsys, "Write result.txt")
        code, out, err = cli(capsys, "--json", "build", "next")
        assert len(model.requests) == 2
    assert code == 1, err
    return task_id, json.loads(out)


def test_a_refused_merge_keeps_the_commit_and_the_next_build_merges_it(build_repo, capsys):
    repo = build_repo
    base = git(repo, "rev-parse", "main")
    task_id, result = _refused_merge(repo, capsys)
    assert result["outcome"] == "merge_pending" and result["status"] == "failed"
    assert "result.txt" in _error(result) and f"codex-sandbox build task {task_id}" in _error(result)
    assert "without calling the model again" in _error(result)
    kept = git(repo, "rev-parse", f"codex/{task_id}")
    assert result["commit"] == kept and git(repo, "rev-parse", "main") == base
    assert (repo / "result.txt").read_text() == "mine\n"  # the user's file was not touched
    status, attempts, last_error = db_rows(repo, "SELECT status, attempts, last_error FROM tasks")[0]
    assert (status, attempts) == ("pending", 1) and "is kept on" in last_error
    assert leftover_containers(repo) == [] and live_worktrees(repo) == []

    # still in the way: the next build says so again, without a model call or an attempt
    with ScriptedModelServer({"responses": []}) as model:
        configure(repo, model.base_url)
        code, out, err = cli(capsys, "--json", "build", "task", task_id[-8:])
        assert model.requests == []
    assert code == 1 and json.loads(out)["outcome"] == "merge_pending" and "result.txt" in err
    assert db_rows(repo, "SELECT status, attempts FROM tasks") == [("pending", 1)]

    # the user moves their file away; `build next` merges the kept commit, no model call
    (repo / "result.txt").unlink()
    with ScriptedModelServer({"responses": []}) as model:
        configure(repo, model.base_url)
        code, out, err = cli(capsys, "build", "next")
        assert model.requests == []
    assert code == 0, err
    assert "the kept commit; no model call" in out
    assert git(repo, "rev-parse", "main") == kept and (repo / "result.txt").read_text() == "done\n"
    assert db_rows(repo, "SELECT status, attempts, commit_sha FROM tasks") == [("completed", 1, kept)]
    assert git(repo, "log", "main", "--format=%(trailers:key=Task-Id,valueonly)").split().count(task_id) == 1
    assert db_rows(repo, "SELECT COUNT(*) FROM runs") == [(1,)]  # one model run in all
    assert git(repo, "status", "--porcelain") == ""


def test_a_kept_commit_that_no_longer_merges_is_built_again(build_repo, capsys):
    repo = build_repo
    task_id, result = _refused_merge(repo, capsys)
    assert result["outcome"] == "merge_pending"
    git(repo, "add", "result.txt")  # the user commits their own result.txt instead: the kept commit conflicts
    git(repo, "commit", "-q", "-m", "mine")
    with ScriptedModelServer(WRITE) as model:
        configure(repo, model.base_url)
        code, out, err = cli(capsys, "--json", "build", "task", task_id)
        assert len(model.requests) == 2  # built again from the new main
    assert code == 0, err
    assert json.loads(out)["outcome"] == "ok"
    assert git(repo, "show", "main:result.txt") == "done"
    assert db_rows(repo, "SELECT status, attempts FROM tasks") == [("completed", 2)]
    assert branch_exists(repo, f"codex/{task_id}")
