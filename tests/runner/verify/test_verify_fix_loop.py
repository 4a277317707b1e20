"""The lifecycle loop: verify fails → `verify fix` task with the failure → the scripted model fixes it →
verify passes → DEPLOYING (and only then)."""

from __future__ import annotations

import json

import pytest

from runner.state.models import PlanVersion, Task
from runner.state.store import Store
from sandbox.scripted_model.server import ScriptedModelServer
from tests.runner.build.build_support import FAKE_KEY, cli, codex_image, configure, git
from tests.runner.verify.fixture_project import FIX_PATCH, write_project

pytestmark = pytest.mark.docker


@pytest.fixture
def planned_repo(repo, monkeypatch):
    codex_image()
    write_project(repo)
    monkeypatch.chdir(repo)
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    with Store.open(repo) as store:  # a plan whose one task is built: the lifecycle is in BUILDING
        done = Task(
            type="implement", title="calc module", status="completed", commit=git(repo, "rev-parse", "HEAD")
        )
        store.add_task(done)
        store.insert_plan(PlanVersion(version=1, status="approved", task_ids=[done.id]))
        store.set_lifecycle_state("BUILDING", "test: plan built")
    return repo


def state(repo) -> str:
    with Store.open(repo) as store:
        return store.lifecycle_state()


def test_verify_fix_build_verify_reaches_deploying(planned_repo, capsys):
    repo = planned_repo
    code, out, err = cli(capsys, "--json", "verify", "run")
    assert code == 1, err
    assert [f["name"] for f in json.loads(out)["failures"]] == ["tests/test_calc.py::test_mul"]
    assert state(repo) == "VERIFYING"

    code, out, err = cli(capsys, "--json", "verify", "fix")
    assert code == 0, err
    fix = json.loads(out)["task"]
    assert fix["type"] == "fix" and "test_mul" in fix["title"]
    assert "tests/test_calc.py::test_mul" in fix["error_context"] and "assert 7 == 12" in fix["error_context"]
    assert fix["target_files"] == ["calc.py", "tests/test_calc.py"]  # test + the module it imports
    assert state(repo) == "BUILDING"

    script = {"responses": [{"apply_patch": FIX_PATCH}, {"message": "mul now multiplies."}]}
    with ScriptedModelServer(script) as model:
        configure(repo, model.base_url)
        code, out, err = cli(capsys, "--json", "build", "next")
        assert code == 0, err
        assert json.loads(out)["task_id"] == fix["id"]
        # The model saw the failure it was asked to fix.
        assert "assert 7 == 12" in model.requests[0].body.decode()
    assert "a * b" in git(repo, "show", "HEAD:calc.py")
    assert state(repo) == "BUILDING"

    code, out, err = cli(capsys, "--json", "verify", "run")
    assert code == 0, err
    report = json.loads(out)
    assert report["passed"] and report["commit"] == git(repo, "rev-parse", "HEAD")
    assert state(repo) == "DEPLOYING"
