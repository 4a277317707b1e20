"""Model faults through the gateway with the real Codex CLI: retries, hard failures, stalls, budgets, replay."""

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
    run_dir,
)

from sandbox.scripted_model.server import ScriptedModelServer

pytestmark = pytest.mark.docker

ADD_HELLO = "*** Begin Patch\n*** Add File: hello.txt\n+hi\n*** End Patch"


def _audit(repo, prefix: str) -> list[dict]:
    from runner.state.store import Store

    with Store.open(repo) as store:
        return [e.model_dump() for e in store.audit_events(prefix)]


def _nothing_committed(repo, base: str, task_id: str) -> None:
    assert git(repo, "rev-parse", "main") == base
    assert not branch_exists(repo, f"codex/{task_id}")
    assert git(repo, "status", "--porcelain") == ""


def test_429_twice_then_success_retries_in_the_gateway(build_repo, capsys):
    repo = build_repo
    script = {"responses": [
        {"status": 429, "retry_after": "0", "error": "slow down", "times": 2},
        {"apply_patch": ADD_HELLO},
        {"message": "done"},
    ]}
    with ScriptedModelServer(script) as model:
        configure(repo, model.base_url)
        task_id = add_task(capsys, "Say hi")
        code, _out, err = cli(capsys, "--json", "build", "next")
    assert code == 0, err
    assert git(repo, "show", "main:hello.txt") == "hi"
    retries = _audit(repo, "gateway.retry")
    assert len(retries) == 2 and all(e["task_id"] == task_id for e in retries)
    assert len(model.requests) == 4  # 2 refused + 2 answered; Codex itself never retried


def test_500_every_time_fails_with_exit_4_and_commits_nothing(build_repo, capsys):
    repo = build_repo
    base = git(repo, "rev-parse", "main")
    with ScriptedModelServer({"responses": [{"status": 500, "error": "upstream broke", "times": 50}]}) as model:
        configure(repo, model.base_url)
        task_id = add_task(capsys, "Say hi")
        code, out, err = cli(capsys, "--json", "build", "next")
    assert code == 4, err
    result = json.loads(out)
    assert result["outcome"] == "model_error" and result["status"] == "failed"
    assert "500" in result["error"]["message"] and "3 attempts" in result["error"]["message"]
    assert len(model.requests) == 3  # the gateway's attempts for an API error; Codex does not retry
    _nothing_committed(repo, base, task_id)
    assert db_rows(repo, "SELECT status FROM tasks WHERE id = ?", task_id) == [("failed",)]
    assert _audit(repo, "gateway.retry")  # the attempts are audited
    manifest = json.loads((run_dir(repo, task_id) / "manifest.json").read_text())
    assert manifest["status"] == "failed" and manifest["exit_code"] == 4


def test_a_stalled_stream_times_out_with_a_clear_error(build_repo, capsys):
    repo = build_repo
    base = git(repo, "rev-parse", "main")
    script = {"responses": [{"apply_patch": ADD_HELLO, "stall_after": 0, "stall_s": 30}]}
    with ScriptedModelServer(script) as model:
        configure(repo, model.base_url, llm={"request_timeout_s": 2})
        task_id = add_task(capsys, "Say hi")
        code, out, err = cli(capsys, "--json", "build", "next")
    assert code == 4, err
    result = json.loads(out)
    assert result["outcome"] == "model_error" and "stalled" in result["error"]["message"]
    _nothing_committed(repo, base, task_id)


def test_token_budget_exceeded_stops_the_run_with_exit_4(build_repo, capsys):
    repo = build_repo
    base = git(repo, "rev-parse", "main")
    script = {"responses": [
        {"exec": "echo one > one.txt"},   # 120 tokens
        {"exec": "echo two > two.txt"},   # 240: over the budget of 150
        {"message": "done"},              # refused by the gateway
    ]}
    with ScriptedModelServer(script) as model:
        configure(repo, model.base_url, llm={"run_token_budget": 150})
        task_id = add_task(capsys, "Write files")
        code, out, err = cli(capsys, "--json", "build", "next")
    assert code == 4, err
    result = json.loads(out)
    assert result["outcome"] == "budget_exceeded" and "budget" in result["error"]["message"]
    assert "budget" in err  # one clear line on stderr too
    assert len(model.requests) == 2
    _nothing_committed(repo, base, task_id)
    assert _audit(repo, "gateway.budget_exceeded")


def test_replay_without_upstream_gives_the_identical_diff(build_repo, capsys):
    repo = build_repo
    base = git(repo, "rev-parse", "main")
    script = {"responses": [
        {"apply_patch": ADD_HELLO},
        {"exec": "printf 'x = 1\\n' >> app.py && echo appended"},
        {"message": "done"},
    ]}
    with ScriptedModelServer(script) as model:
        configure(repo, model.base_url)
        task_id = add_task(capsys, "Say hi and append")
        code, out, err = cli(capsys, "--json", "build", "next")
    assert code == 0, err
    first = (run_dir(repo, task_id) / "diff.patch").read_text()
    assert "+hi" in first and "+x = 1" in first

    # back to the start: same base, same task pending again, and no model at all
    git(repo, "reset", "-q", "--hard", base)
    git(repo, "branch", "-q", "-D", f"codex/{task_id}")
    from runner.state.store import Store

    with Store.open(repo) as store:
        store.update_task(task_id, event="test.reset", status="pending", commit=None)
    configure(repo, "http://127.0.0.1:9/v1", llm={"mode": "replay"})
    code, out, err = cli(capsys, "--json", "build", "next")
    assert code == 0, err
    second = json.loads(out)
    assert (run_dir(repo, task_id) / "diff.patch").read_text() == first
    assert git(repo, "show", "main:hello.txt") == "hi"
    manifest = json.loads((run_dir(repo, task_id) / "manifest.json").read_text())
    assert manifest["model"]["mode"] == "replay" and second["run_id"] == manifest["run_id"]
