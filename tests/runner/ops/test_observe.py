"""observe: failing health or a crash loop moves OBSERVING → MAINTAINING and proposes one patch task."""

from __future__ import annotations

from runner.deploy.base import EnvStatus
from runner.state.models import PlanVersion
from runner.ops.observe import issue_of, react, render_status
from runner.state.store import Store


def st(**kw) -> EnvStatus:
    base = dict(
        env="staging", container="p-staging", state="running", health="healthy", restarts=0, commit="a" * 40
    )
    return EnvStatus(**{**base, **kw})


def test_issue_detection():
    assert issue_of(st()) is None
    assert issue_of(st(state="absent", health="unknown")) is None
    assert "health check failing" in issue_of(st(health="unhealthy", detail="HTTP 500"))
    assert "crash loop" in issue_of(st(state="restarting", health="unhealthy", restarts=4))
    assert "crash loop" in issue_of(st(restarts=5))
    assert "restarts=5" in render_status([st(restarts=5, uptime_s=30)])[0]


def test_react_moves_lifecycle_and_proposes_one_patch_task(repo):
    with Store.open(repo) as store:
        store.insert_plan(PlanVersion(version=1, status="approved"))
        store.set_lifecycle_state("OBSERVING", "test")
        assert react(store, [st()]) == []
        assert store.lifecycle_state() == "OBSERVING"
        issues = react(store, [st(health="unhealthy", detail="HTTP 503"), st(env="prod")])
        assert len(issues) == 1 and issues[0]["task"]
        assert store.lifecycle_state() == "MAINTAINING"
        task = store.get_task(issues[0]["task"])
        assert task.type == "patch" and "HTTP 503" in task.error_context
        again = react(store, [st(health="unhealthy", detail="HTTP 503")])
        assert again[0]["task"] is None  # not proposed twice
        assert len([t for t in store.list_tasks() if t.type == "patch"]) == 1
        assert store.audit_events(event="observe.issue")


def test_react_without_plan_moves_no_state(repo):
    with Store.open(repo) as store:
        issues = react(store, [st(state="restarting", restarts=3)])
        assert issues and store.lifecycle_state() == "IDLE"
