"""State and metrics only from what happened: a step that never ran moves no lifecycle state and records
no run; a refused deploy or rollback is no failed deployment."""

from __future__ import annotations

import json
import uuid

import pytest
from tests.runner.build.build_support import cli, configure, git

from runner.state.models import PlanVersion, Run, Task
from runner.state.store import Store


def _planned(repo, state: str, *, verified: bool = False) -> str:
    """A plan whose one task is built, the lifecycle in `state`, and (optionally) HEAD verified."""
    sha = git(repo, "rev-parse", "HEAD")
    with Store.open(repo) as store:
        done = Task(type="implement", title="app", status="completed", commit=sha)
        store.add_task(done)
        store.insert_plan(PlanVersion(version=1, status="approved", task_ids=[done.id]))
        store.set_lifecycle_state(state, "test")
        if verified:
            run = store.start_run(Run(kind="verify", commit=sha, pid=1))
            store.finish_run(run.id, event="verify.passed", status="succeeded", details={"passed": True})
    return sha


def _state(repo) -> str:
    with Store.open(repo) as store:
        return store.lifecycle_state()


def _runs(repo, kind: str) -> list:
    with Store.open(repo) as store:
        return store.list_runs(kind=kind)


@pytest.fixture
def no_engine(monkeypatch):
    from sandbox.docker.client import get_client

    get_client.cache_clear()
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    yield
    get_client.cache_clear()


def _metric(text: str, name: str) -> float:
    line = next(line for line in text.splitlines() if line.startswith((name + " ", name + "{")))
    return float(line.rsplit(" ", 1)[1])


def test_verify_with_the_engine_down_moves_no_state_and_deploy_stays_refused(repo, monkeypatch, capsys, no_engine):
    monkeypatch.chdir(repo)
    _planned(repo, "BUILDING")
    code, _, err = cli(capsys, "--json", "verify", "run")
    assert code == 4, err
    assert _state(repo) == "BUILDING"  # not VERIFYING: the tests never ran
    assert _runs(repo, "verify") == []
    code, _, err = cli(capsys, "deploy", "staging", "--commit", "HEAD")
    assert code == 5 and "not allowed in state BUILDING" in err


def test_deploy_with_the_engine_down_records_nothing_and_moves_no_state(repo, monkeypatch, capsys, no_engine):
    monkeypatch.chdir(repo)
    _planned(repo, "VERIFYING", verified=True)
    code, _, err = cli(capsys, "deploy", "staging")
    assert code == 4, err
    assert _state(repo) == "VERIFYING" and _runs(repo, "deploy") == []
    code, out, _ = cli(capsys, "observe", "metrics")
    assert code == 0 and _metric(out, 'deployments_total{outcome="failed"}') == 0.0


def test_refused_deploys_do_not_count_as_failed_deployments(repo, monkeypatch, capsys):
    """Runs a check refused (recorded by an older version, or refused mid-way) stay out of the rate."""
    monkeypatch.chdir(repo)
    with Store.open(repo) as store:
        for outcome, status in (("deployed", "succeeded"), ("refused", "failed"), ("blocked", "blocked")):
            run = store.start_run(Run(kind="deploy", pid=1, details={"env": "staging", "action": "deploy"}))
            store.finish_run(run.id, event=f"deploy.{outcome}", status=status, details={"outcome": outcome})
    code, out, err = cli(capsys, "observe", "metrics")
    assert code == 0, err
    assert _metric(out, "deployment_success_rate") == 1.0
    assert _metric(out, 'deployments_total{outcome="failed"}') == 0.0


@pytest.mark.docker
def test_rollback_with_nothing_to_roll_back_to_is_refused_not_failed(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    configure(repo, "http://127.0.0.1:9/v1", deploy={"project": f"cxs-facts-{uuid.uuid4().hex[:8]}"})
    for _ in range(2):
        code, out, err = cli(capsys, "--json", "deploy", "rollback", "staging")
        assert code == 5, err
        assert "nothing to roll back to in staging" in json.loads(out)["error"]["message"]
    assert _runs(repo, "deploy") == []
    code, out, _ = cli(capsys, "observe", "metrics")
    assert _metric(out, 'deployments_total{outcome="failed"}') == 0.0
    assert str(_metric(out, "deployment_success_rate")) == "nan"


@pytest.mark.docker
def test_a_commit_without_a_dockerfile_is_refused_before_the_deploy_starts(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    configure(repo, "http://127.0.0.1:9/v1", deploy={"project": f"cxs-facts-{uuid.uuid4().hex[:8]}"})
    _planned(repo, "VERIFYING", verified=True)
    code, _, err = cli(capsys, "deploy", "staging")
    assert code == 2, err
    assert "has no Dockerfile" in err and "/health" in err
    assert _state(repo) == "VERIFYING" and _runs(repo, "deploy") == []


@pytest.mark.docker
def test_a_build_whose_container_the_engine_refuses_counts_no_attempt(build_repo, capsys):
    from tests.runner.build.build_support import add_task, db_rows

    from sandbox.scripted_model.server import ScriptedModelServer

    repo = build_repo
    with ScriptedModelServer({"responses": [{"message": "never asked"}]}) as model:
        configure(repo, model.base_url, sandbox={"limits": {"cpus": 512.0}})  # more CPUs than the machine has
        task_id = add_task(capsys, "Anything")
        code, out, err = cli(capsys, "--json", "build", "next")
        assert model.requests == []
    assert code == 4, err
    assert json.loads(out)["outcome"] == "engine_error" and json.loads(out)["attempts"] == 0
    assert db_rows(repo, "SELECT status, attempts FROM tasks WHERE id = ?", task_id) == [("pending", 0)]
    assert db_rows(repo, "SELECT status FROM runs") == [("failed",)]  # what happened is recorded as it was
