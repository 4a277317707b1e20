"""The planner against the scripted model server, through the real `openai` SDK over HTTP."""

import json

import pytest

from runner.config.load import LlmConfig
from runner.errors import ExternalServiceError, InvalidInput, RunnerError
from runner.plan.planner import MAX_ATTEMPTS, generate_plan, revise_plan
from runner.plan.versions import approve_plan, plan_view
from runner.state.store import Store
from sandbox.scripted_model import ScriptedModelServer

KEY = "sk-test-planner-0000000000000000000000"


def task(id, deps=(), type="implement", priority=1, files=()):
    return {"id": id, "type": type, "title": f"task {id}", "description": f"do {id}", "dependencies": list(deps),
            "priority": priority, "estimated_complexity": "low", "target_files": list(files), "verification": None}


GOOD = {"summary": "a small app", "tasks": [task("T1", type="scaffold", priority=0), task("T2", ["T1"]),
                                            task("T3", ["T1"]), task("T4", ["T2", "T3"], type="test")]}
CYCLE = {"summary": "x", "tasks": [task("T1", ["T2"]), task("T2", ["T1"])]}


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path)
    yield s
    s.close()


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


def llm(server):
    return LlmConfig(base_url=server.base_url, model="planner-test", request_timeout_s=10)


def test_valid_plan_is_stored(store):
    with ScriptedModelServer({"chat": [{"json": GOOD, "usage": {"input_tokens": 120, "output_tokens": 80}}]},
                             api_key=KEY) as server:
        plan = generate_plan(store, "# PRD\nA small app.", llm=llm(server), prd_path="PRD.md")
        body = server.requests[0].json
    assert body["model"] == "planner-test"
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    assert "A small app." in body["messages"][1]["content"]
    assert plan.version == 1 and plan.attempts == 1 and plan.status == "draft"
    assert (plan.tokens_in, plan.tokens_out) == (120, 80)
    assert store.lifecycle_state() == "PLANNING"
    tasks = {t.title: t for t in store.list_tasks()}
    assert len(tasks) == 4 and all(len(t.id) == 26 for t in tasks.values())  # keys became ULIDs
    assert set(tasks["task T4"].dependencies) == {tasks["task T2"].id, tasks["task T3"].id}
    view = plan_view(store)
    assert [len(level) for level in view.levels] == [1, 2, 1]
    assert store.tokens_spent() == (120, 80)


def test_cycle_then_bad_json_then_valid_is_stored_after_three_attempts(store):
    script = {"chat": [{"json": CYCLE}, {"content": '{"summary": "x", "tasks": [ oops'}, {"json": GOOD}]}
    with ScriptedModelServer(script) as server:
        plan = generate_plan(store, "PRD", llm=llm(server))
        requests = [r.json for r in server.requests]
    assert plan.attempts == 3 and len(store.list_tasks()) == 4
    errors = [e.details for e in store.audit_events("plan.invalid_output")]
    assert [e["attempt"] for e in errors] == [1, 2]
    assert "dependency cycle: T1 -> T2 -> T1" in errors[0]["error"]
    assert errors[1]["error"].startswith("not valid JSON")
    # each retry carries the previous error back to the model
    assert errors[0]["error"] in requests[1]["messages"][-1]["content"]
    assert errors[1]["error"] in requests[2]["messages"][-1]["content"]


def test_three_bad_answers_exit_1_with_last_error_and_store_nothing(store):
    bad_schema = {"summary": "x", "tasks": [{**task("T1"), "type": "dance"}]}
    script = {"chat": [{"json": CYCLE}, {"content": "not json"}, {"json": bad_schema}]}
    with ScriptedModelServer(script) as server:
        with pytest.raises(RunnerError) as info:
            generate_plan(store, "PRD", llm=llm(server))
        assert len(server.requests) == MAX_ATTEMPTS
    assert info.value.exit_code == 1
    assert "3 attempts" in str(info.value) and "tasks.0.type" in str(info.value)
    assert store.plan() is None and store.list_tasks() == [] and store.lifecycle_state() == "IDLE"
    assert len(store.audit_events("plan.invalid_output")) == 3
    assert store.audit_events("plan.failed")[0].details["error"] in str(info.value)


def test_unknown_dependency_and_duplicate_ids_are_reprompted(store):
    script = {"chat": [{"json": {"summary": "x", "tasks": [task("T1", ["T9"])]}},
                       {"json": {"summary": "x", "tasks": [task("T1"), task("T1")]}}, {"json": GOOD}]}
    with ScriptedModelServer(script) as server:
        generate_plan(store, "PRD", llm=llm(server))
    errors = [e.details["error"] for e in store.audit_events("plan.invalid_output")]
    assert "unknown task 'T9'" in errors[0] and "duplicate task id 'T1'" in errors[1]


def test_endpoint_errors_are_external_service_errors(store):
    server = ScriptedModelServer({"chat": [{"status": 401, "error": "bad key", "times": 3}]})
    with server, pytest.raises(ExternalServiceError, match="HTTP 401"):
        generate_plan(store, "PRD", llm=llm(server))
    assert store.plan() is None


def test_missing_api_key_is_invalid_input(store, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(InvalidInput, match=r"\$OPENAI_API_KEY"):
        generate_plan(store, "PRD", llm=LlmConfig(base_url="http://127.0.0.1:9/v1"))


def test_revise_keeps_old_version_and_completed_tasks(store):
    with ScriptedModelServer({"chat": [{"json": GOOD}]}) as server:
        generate_plan(store, "PRD", llm=llm(server))
    by_title = {t.title: t for t in store.list_tasks()}
    t1, t2 = by_title["task T1"], by_title["task T2"]
    store.update_task(t1.id, event="task.completed", status="completed", commit="a" * 40)
    revised = {"summary": "smaller", "tasks": [
        task(t2.id, [t1.id], priority=2),  # keeps T2's id, still depends on the completed T1
        task("N1", [t2.id]),
    ]}
    with ScriptedModelServer({"chat": [{"json": revised}]}) as server:
        plan = revise_plan(store, "drop T3 and T4; add a docs task", llm=llm(server))
        prompt = server.requests[0].json["messages"][-1]["content"]
    assert "drop T3 and T4" in prompt and t2.id in prompt
    assert plan.version == 2 and plan.feedback.startswith("drop")
    assert [p.status for p in store.plans()] == ["superseded", "draft"]
    assert store.plan(1).task_ids != plan.task_ids  # the old version is kept as it was
    kept = store.get_task(t1.id)
    assert kept.status == "completed" and kept.commit == "a" * 40 and t1.id in plan.task_ids
    assert store.get_task(t2.id).priority == 2 and store.get_task(t2.id).plan_version == 2
    statuses = {t.title: t.status for t in store.list_tasks()}
    assert statuses["task T3"] == "skipped" and statuses["task T4"] == "skipped"
    assert statuses["task N1"] == "pending"
    assert store.lifecycle_state() == "PLANNING"
    approve_plan(store)
    assert store.lifecycle_state() == "SCAFFOLDING" and store.plan().status == "approved"


def test_replan_from_idle_after_a_cycle_keeps_completed_work(store):
    with ScriptedModelServer({"chat": [{"json": GOOD}]}) as server:
        generate_plan(store, "PRD", llm=llm(server))
    done = store.list_tasks()[0]
    store.update_task(done.id, event="task.completed", status="completed", commit="b" * 40)
    from runner.state import lifecycle

    lifecycle.transition(store, "IDLE", reason="start over")
    with ScriptedModelServer({"chat": [{"json": {"summary": "v2", "tasks": [task("X1", [done.id])]}}]}) as server:
        plan = generate_plan(store, "PRD v2", llm=llm(server))
        assert done.id in server.requests[0].json["messages"][-1]["content"]
    assert done.id in plan.task_ids and store.get_task(done.id).commit == "b" * 40
    assert json.loads(json.dumps(plan_view(store).model_dump()))["version"] == 2


def test_live_answers_are_recorded_and_replayed_offline(tmp_path, monkeypatch):
    with Store.open(tmp_path / "a") as store, ScriptedModelServer({"chat": [{"json": CYCLE}, {"json": GOOD}]}) as server:
        generate_plan(store, "PRD", llm=llm(server))
        base_url = server.base_url
    cache = tmp_path / "a" / ".codex" / "cache"
    assert len(list(cache.glob("*.json"))) == 2
    # a second repo with the same cache replays both answers with no server and no key
    monkeypatch.delenv("OPENAI_API_KEY")
    (tmp_path / "b" / ".codex").mkdir(parents=True)
    import shutil

    shutil.copytree(cache, tmp_path / "b" / ".codex" / "cache")
    offline = LlmConfig(base_url=base_url, model="planner-test", mode="replay")
    with Store.open(tmp_path / "b") as store:
        plan = generate_plan(store, "PRD", llm=offline)
        assert plan.attempts == 2 and len(store.list_tasks()) == 4
        with pytest.raises(ExternalServiceError, match="replay"):
            generate_plan(store, "a different PRD", llm=offline)
