"""The planned path: plan → approve → scaffold → build all; and the retry, timeout and hostile-tree endings."""

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


def _task(key, type_, files, deps=(), priority=1):
    return {"id": key, "type": type_, "title": f"{type_} {key}", "description": f"{type_} work {key}",
            "dependencies": list(deps), "priority": priority, "estimated_complexity": "low",
            "target_files": list(files), "verification": None}


def _patch(path: str, line: str) -> str:
    return f"*** Begin Patch\n*** Add File: {path}\n+{line}\n*** End Patch"


def test_plan_approve_scaffold_then_build_all_in_dependency_order(build_repo, capsys):
    repo = build_repo
    (repo / "PRD.md").write_text("# PRD\nA tiny package with a module and its tests.\n")
    git(repo, "add", "PRD.md")
    git(repo, "commit", "-qm", "prd")
    plan = {"summary": "tiny package", "tasks": [
        _task("T1", "scaffold", ["pyproject.toml"], priority=0),
        _task("T2", "implement", ["mod.py"], ["T1"]),
        _task("T3", "test", ["test_mod.py"], ["T2"]),
    ]}
    script = {"chat": [{"json": plan}], "responses": [
        {"apply_patch": _patch("pyproject.toml", "[project]")}, {"message": "scaffolded"},
        {"apply_patch": _patch("mod.py", "X = 1")}, {"message": "implemented"},
        {"apply_patch": _patch("test_mod.py", "from mod import X")}, {"message": "tested"},
    ]}
    with ScriptedModelServer(script) as model:
        configure(repo, model.base_url)
        assert cli(capsys, "plan", "generate", "PRD.md")[0] == 0
        assert cli(capsys, "plan", "approve")[0] == 0
        code, _, err = cli(capsys, "build", "next")
        assert code == 5 and "SCAFFOLDING" in err  # the lifecycle says: scaffold first
        code, out, err = cli(capsys, "--json", "scaffold")
        assert code == 0, err
        assert json.loads(out)["title"] == "scaffold T1"
        assert db_rows(repo, "SELECT state FROM lifecycle_state") == [("BUILDING",)]
        code, out, err = cli(capsys, "--json", "build", "all")
        assert code == 0, err
        built = [r["title"] for r in json.loads(out)["results"]]
        assert built == ["implement T2", "test T3"]
        code, out, _ = cli(capsys, "--json", "build", "next")
        assert code == 0 and json.loads(out)["built"] is None
        t2_prompt = next(r.body.decode() for r in model.requests if "implement work T2" in r.body.decode())
        assert "Done before this task" in t2_prompt and "scaffold T1 (files: pyproject.toml)" in t2_prompt
    landed = git(repo, "log", "main", "--format=%(trailers:key=Task-Id,valueonly)").split()
    assert len(landed) == 3 and len(set(landed)) == 3
    assert git(repo, "show", "main:test_mod.py") == "from mod import X"


def test_no_change_is_retried_with_the_error_context_in_the_prompt(build_repo, capsys):
    repo = build_repo
    script = {"responses": [
        {"message": "I looked around."},                      # attempt 1: no change
        {"exec": "echo ok > done.txt"}, {"message": "done"},  # attempt 2
    ]}
    with ScriptedModelServer(script) as model:
        configure(repo, model.base_url, build={"max_attempts": 2})
        task_id = add_task(capsys, "Write done.txt")
        code, out, err = cli(capsys, "--json", "build", "next")
    assert code == 0, err
    result = json.loads(out)
    assert result["attempts"] == 2 and git(repo, "show", "main:done.txt") == "ok"
    assert "went wrong last time" not in model.requests[0].body.decode()
    retry_prompt = model.requests[1].body.decode()
    assert "went wrong last time" in retry_prompt and "no_change" in retry_prompt
    runs = db_rows(repo, "SELECT status, error FROM runs WHERE task_id = ? ORDER BY started_at", task_id)
    assert [r[0] for r in runs] == ["failed", "succeeded"] and "without changing" in runs[0][1]


def test_a_codex_timeout_is_killed_and_reported(build_repo, capsys):
    repo = build_repo
    base = git(repo, "rev-parse", "main")
    with ScriptedModelServer({"responses": [{"message": "late", "delay_s": 30}]}) as model:
        configure(repo, model.base_url, sandbox={"limits": {"timeout_s": 4}})
        task_id = add_task(capsys, "Be slow")
        code, out, err = cli(capsys, "--json", "build", "next")
    assert code == 4, err
    result = json.loads(out)
    assert result["outcome"] == "timeout" and "time limit" in result["error"]["message"]
    assert git(repo, "rev-parse", "main") == base and not branch_exists(repo, f"codex/{task_id}")


def test_a_hostile_tree_is_refused_and_nothing_committed(build_repo, capsys):
    repo = build_repo
    base = git(repo, "rev-parse", "main")
    script = {"responses": [{"exec": "ln -s /etc/passwd leak && echo x > ok.txt"}, {"message": "done"}]}
    with ScriptedModelServer(script) as model:
        configure(repo, model.base_url)
        task_id = add_task(capsys, "Link it")
        code, out, err = cli(capsys, "--json", "build", "next")
    assert code == 3, err
    result = json.loads(out)
    assert result["outcome"] == "hostile_tree" and "leak" in result["error"]["message"]
    assert git(repo, "rev-parse", "main") == base and not branch_exists(repo, f"codex/{task_id}")
    manifest = json.loads((run_dir(repo, task_id) / "manifest.json").read_text())
    assert manifest["status"] == "blocked" and manifest["outcome"] == "hostile_tree"
