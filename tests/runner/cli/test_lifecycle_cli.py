"""The lifecycle commands end to end: plan → approve, task, status, history, reset, --json schemas."""

import json
from pathlib import Path

import pytest
from tests.runner.cli.lifecycle_cli_support import check_schema, cli

from runner.state import lifecycle
from runner.state.models import PlanVersion
from runner.schemas import SCHEMA_DIR, output_models, render
from runner.state.store import Store
from sandbox.scripted_model import ScriptedModelServer

PLAN = {"summary": "tiny", "tasks": [
    {"id": "T1", "type": "scaffold", "title": "scaffold", "description": "lay out", "dependencies": [],
     "priority": 0, "estimated_complexity": "low", "target_files": ["app.py"], "verification": None},
    {"id": "T2", "type": "implement", "title": "add", "description": "add()", "dependencies": ["T1"],
     "priority": 1, "estimated_complexity": "medium", "target_files": ["app.py"], "verification": "pytest -q"},
]}


@pytest.fixture
def here(repo, monkeypatch):
    monkeypatch.chdir(repo)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-cli-00000000000000000000")
    return repo


def test_published_schemas_are_up_to_date():
    for name in output_models():
        assert (SCHEMA_DIR / f"{name}.json").read_text() == render(name), f"run python -m runner.schemas ({name})"


def test_plan_generate_show_approve(here, capsys):
    (here / "PRD.md").write_text("# Tiny\nAn add function.\n")
    with ScriptedModelServer({"chat": [{"json": PLAN}]}) as server:
        code, out, err = cli(capsys, "config", "set", "llm.base_url", server.base_url)
        assert code == 0, err
        code, out, err = cli(capsys, "plan", "generate", "PRD.md", "--json")
        assert code == 0, err
    view = check_schema("plan-generate", out)
    assert view["version"] == 1 and view["lifecycle_state"] == "PLANNING"
    assert [t["title"] for t in view["tasks"]] == ["scaffold", "add"]

    code, out, _ = cli(capsys, "plan", "show", "--json")
    assert code == 0 and check_schema("plan-show", out)["levels"] == [[view["tasks"][0]["id"]], [view["tasks"][1]["id"]]]
    code, out, _ = cli(capsys, "plan", "show")
    assert code == 0 and "level 1" in out and "plan v1 (draft)" in out

    code, _, err = cli(capsys, "build", "next")  # guards now apply: building needs BUILDING
    assert code == 5 and "not allowed in state PLANNING" in err

    code, out, err = cli(capsys, "plan", "approve")
    assert code == 0, err
    code, out, _ = cli(capsys, "status", "--json")
    status = check_schema("status", out)
    assert status["state"] == "SCAFFOLDING" and status["plan_status"] == "approved" and status["mode"] == "lifecycle"
    assert status["progress"]["total"] == 2 and status["tokens"]["input"] > 0

    code, out, _ = cli(capsys, "history", "--json", "--type", "plan")
    events = [e["event"] for e in check_schema("history", out)["events"]]
    assert events == ["plan.generated", "plan.approved"]
    code, out, _ = cli(capsys, "history", "--type", "lifecycle")
    assert out.count("lifecycle.transition") == 2


def test_task_add_and_list_adhoc(here, capsys):
    code, out, err = cli(capsys, "task", "add", "Write the parser\nwith tests", "--target-file", "parse.py",
                         "--priority", "2", "--type", "implement", "--json")
    assert code == 0, err
    added = check_schema("task-add", out)
    assert added["adhoc"] is True and added["task"]["title"] == "Write the parser"
    first = added["task"]["id"]
    code, out, err = cli(capsys, "task", "add", "second", "--depends-on", first[:12], "--json")
    assert code == 0, err
    assert check_schema("task-add", out)["task"]["dependencies"] == [first]
    code, out, _ = cli(capsys, "task", "list", "--json")
    assert [t["title"] for t in check_schema("task-list", out)["tasks"]] == ["Write the parser", "second"]
    code, out, _ = cli(capsys, "task", "list")
    assert first in out
    with Store.open(here) as s:
        assert s.lifecycle_state() == "IDLE"  # ad-hoc work moves no state
    code, out, _ = cli(capsys, "history", "--json", "--task", first[:12])
    assert [e["event"] for e in check_schema("history", out)["events"]] == ["task.added"]
    code, out, _ = cli(capsys, "history", "--since", "1h")
    assert out.count("task.added") == 2


def test_status_human_and_history_since_future(here, capsys):
    code, out, _ = cli(capsys, "status")
    assert code == 0 and "IDLE" in out and "ad-hoc" in out
    code, out, _ = cli(capsys, "history", "--since", "2999-01-01", "--json")
    assert check_schema("history", out)["events"] == []


def test_reset_only_from_failed(here, capsys):
    code, out, err = cli(capsys, "reset", "--json")
    assert code == 5 and "not allowed in state IDLE" in err
    assert check_schema("error", out)["error"]["exit_code"] == 5
    with Store.open(here) as s:
        s.insert_plan(PlanVersion(version=1))
        lifecycle.transition(s, "PLANNING", reason="t")
        lifecycle.transition(s, "FAILED", reason="t")
    code, out, _ = cli(capsys, "task", "add", "x")
    assert code == 5
    code, out, err = cli(capsys, "reset", "--json")
    assert code == 0, err
    assert check_schema("reset", out) == {"from_state": "FAILED", "state": "IDLE", "checkpoint": 3}


def test_config_show_set_validate(here, capsys, monkeypatch):
    code, out, err = cli(capsys, "config", "set", "sandbox.pool_size", "4", "--json")
    assert code == 0, err
    assert check_schema("config-set", out)["value"] == 4
    monkeypatch.setenv("CODEX_LLM_MODEL", "env-model")
    code, out, _ = cli(capsys, "config", "show", "--json")
    values = check_schema("config-show", out)["values"]
    assert values["sandbox.pool_size"] == {"value": 4, "source": str(here / ".codex" / "config.yaml")}
    assert values["llm.model"] == {"value": "env-model", "source": "env CODEX_LLM_MODEL"}
    assert values["build.max_attempts"]["source"] == "default"
    code, out, _ = cli(capsys, "config", "show")
    assert "# env CODEX_LLM_MODEL" in out
    code, out, _ = cli(capsys, "config", "validate", "--json")
    assert check_schema("config-validate", out)["files"] == [str(here / ".codex" / "config.yaml")]
    code, out, _ = cli(capsys, "config", "set", "policies.safety.max_files", "7", "--dry-run", "--json")
    assert code == 0 and json.loads(out)["dry_run"] is True
    assert "policies" not in (here / ".codex" / "config.yaml").read_text()
    code, out, _ = cli(capsys, "config", "set", "policies.custom.flag", "true", "--json")  # every key is typed
    assert code == 2 and "policies.custom" in json.loads(out)["error"]["message"]


def test_every_lifecycle_command_has_help(capsys):
    for args in (["plan", "generate"], ["plan", "show"], ["plan", "approve"], ["plan", "revise"], ["task", "add"],
                 ["task", "list"], ["status"], ["history"], ["reset"], ["config", "show"], ["config", "set"],
                 ["config", "validate"]):
        code, out, _ = cli(capsys, *args, "--help")
        assert code == 0 and "Usage" in out


def test_timed_out_state_is_reported_then_failed_by_the_next_command(here, capsys):
    with Store.open(here) as s:
        s.insert_plan(PlanVersion(version=1))
        lifecycle.transition(s, "PLANNING", reason="t")
        with s.transaction() as db:  # pretend everything happened 11 minutes ago
            db.execute("UPDATE lifecycle_state SET entered_at = '2000-01-01T00:00:00+00:00'")
            db.execute("UPDATE audit_log SET ts = '2000-01-01T00:00:00+00:00'")
    code, out, _ = cli(capsys, "status", "--json")
    report = check_schema("status", out)
    assert report["state"] == "PLANNING" and report["timed_out"]["timeout_s"] == 600
    code, out, _ = cli(capsys, "status")
    assert "TIMED OUT" in out
    code, _, err = cli(capsys, "plan", "approve")
    assert code == 5 and "PLANNING timed out" in err and "FAILED" in err
    code, out, _ = cli(capsys, "status", "--json")
    assert check_schema("status", out)["state"] == "FAILED"
    assert cli(capsys, "reset")[0] == 0


def test_task_added_under_a_plan_joins_it(here, capsys):
    with Store.open(here) as s:
        s.insert_plan(PlanVersion(version=1))
        lifecycle.transition(s, "PLANNING", reason="t")
    code, out, err = cli(capsys, "task", "add", "extra docs", "--json")
    assert code == 0, err
    added = check_schema("task-add", out)
    assert added["adhoc"] is False and added["task"]["plan_version"] == 1
    code, out, _ = cli(capsys, "plan", "show", "--json")
    assert [t["title"] for t in check_schema("plan-show", out)["tasks"]] == ["extra docs"]


def test_plan_revise_keeps_versions(here, capsys):
    (here / "PRD.md").write_text("# Tiny\n")
    smaller = {"summary": "one task", "tasks": [PLAN["tasks"][0]]}
    with ScriptedModelServer({"chat": [{"json": PLAN}, {"json": smaller}]}) as server:
        assert cli(capsys, "config", "set", "llm.base_url", server.base_url)[0] == 0
        assert cli(capsys, "plan", "generate", "PRD.md")[0] == 0
        code, out, err = cli(capsys, "plan", "revise", "only scaffold for now", "--json")
        assert code == 0, err
    view = check_schema("plan-revise", out)
    assert view["version"] == 2 and view["versions"] == [1, 2] and len(view["tasks"]) == 1
    code, out, _ = cli(capsys, "plan", "show", "--version", "1", "--json")
    old = check_schema("plan-show", out)
    assert old["status"] == "superseded" and len(old["tasks"]) == 2
    code, _, err = cli(capsys, "plan", "show", "--version", "7")
    assert code == 2 and "no plan version 7" in err


def test_config_outside_a_repo(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(capsys, "config", "set", "llm.model", "m2", "--user")
    assert code == 0, err
    user_file = Path.home() / ".codex" / "config.yaml"  # HOME is per-test (conftest)
    assert user_file.read_text() == "llm:\n  model: m2\n"
    code, out, _ = cli(capsys, "config", "validate", "--json")
    assert check_schema("config-validate", out)["files"] == [str(user_file)]
    code, _, err = cli(capsys, "config", "set", "llm.model", "m3")
    assert code == 2 and "not inside a git repository" in err


def test_plan_generate_three_bad_answers_exits_1_and_stores_nothing(here, capsys):
    (here / "PRD.md").write_text("# Tiny\n")
    bad = [{"content": "no json here"}, {"json": {"summary": "x"}}, {"json": {"summary": "x", "tasks": []}}]
    with ScriptedModelServer({"chat": bad}) as server:
        assert cli(capsys, "config", "set", "llm.base_url", server.base_url)[0] == 0
        code, out, err = cli(capsys, "plan", "generate", "PRD.md", "--json")
    assert code == 1
    assert check_schema("error", out)["error"]["message"].endswith("last error: invalid task DAG: the plan has no tasks")
    assert err.count("\n") == 1 and "3 attempts" in err
    with Store.open(here) as s:
        assert s.plan() is None and s.list_tasks() == [] and s.lifecycle_state() == "IDLE"
        assert [e.details["attempt"] for e in s.audit_events("plan.invalid_output")] == [1, 2, 3]


def test_status_names_tasks_blocked_by_a_failed_dependency(here, capsys):
    code, out, _ = cli(capsys, "task", "add", "base", "--json")
    base = json.loads(out)["task"]["id"]
    code, out, _ = cli(capsys, "task", "add", "on top", "--depends-on", base, "--json")
    top = json.loads(out)["task"]["id"]
    with Store.open(here) as s:
        s.update_task(base, event="task.failed", status="failed", last_error="boom")
    code, out, _ = cli(capsys, "status", "--json")
    assert check_schema("status", out)["progress"]["blocked"] == {top: [base]}
    code, out, _ = cli(capsys, "status")
    assert code == 0 and "blocked    1 task(s)" in out
