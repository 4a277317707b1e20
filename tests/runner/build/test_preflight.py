"""Preflight through the CLI: what can be checked before the model is called is checked first, and a
refusal leaves the task pending with no attempt counted, no run recorded and the model never called."""

from __future__ import annotations

import json
import subprocess

import pytest
from tests.runner.build.build_support import FAKE_KEY, add_task, cli, configure, db_rows, git

from sandbox.scripted_model.server import ScriptedModelServer


def _untouched(repo, task_id: str) -> None:
    assert db_rows(repo, "SELECT status, attempts FROM tasks WHERE id = ?", task_id) == [("pending", 0)]
    assert db_rows(repo, "SELECT COUNT(*) FROM runs") == [(0,)]


@pytest.fixture
def keyed(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)


def test_a_repo_without_commits_is_refused_before_any_attempt(tmp_path, monkeypatch, capsys, keyed):
    repo = tmp_path / "fresh"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "app.py").write_text("x = 1\n")
    monkeypatch.chdir(repo)
    task_id = add_task(capsys, "Anything", "app.py")
    with ScriptedModelServer({"responses": [{"message": "never asked"}]}) as model:
        configure(repo, model.base_url)
        code, out, err = cli(capsys, "--json", "build", "next")
        assert code == 2, err
        assert "has no commit yet" in err and "git commit" in err and "unknown base revision" not in err
        assert json.loads(out)["error"]["exit_code"] == 2
        _untouched(repo, task_id)
        # `run` with free text adds no ad-hoc task when the build could not start
        code, _, err = cli(capsys, "run", "Write a README")
        assert code == 2 and "has no commit yet" in err
        assert db_rows(repo, "SELECT COUNT(*) FROM tasks") == [(1,)]
        assert model.requests == []


def test_a_detached_head_or_a_missing_integration_branch_is_named(repo, monkeypatch, capsys, keyed):
    monkeypatch.chdir(repo)
    task_id = add_task(capsys, "Anything")
    git(repo, "checkout", "-q", "--detach")
    code, _, err = cli(capsys, "build", "next")
    assert code == 2 and "HEAD is detached" in err and "build.integration_branch" in err
    git(repo, "checkout", "-q", "main")
    configure(repo, "http://127.0.0.1:9/v1", build={"integration_branch": "release"})
    code, _, err = cli(capsys, "build", "task", task_id)
    assert code == 2 and "'release'" in err and "git branch release" in err
    _untouched(repo, task_id)


def test_dirty_target_files_are_refused_naming_what_is_dirty(repo, monkeypatch, capsys, keyed):
    monkeypatch.chdir(repo)
    configure(repo, "http://127.0.0.1:9/v1")
    task_id = add_task(capsys, "Edit app, add greet", "app.py", "greet.py", "README.md")
    (repo / "app.py").write_text("def add(a, b):\n    return a + b  # mine, not committed\n")
    (repo / "greet.py").write_text("# my own scratch file\n")
    code, out, err = cli(capsys, "--json", "build", "next")
    assert code == 1, err
    assert "app.py (uncommitted changes)" in err
    assert "greet.py (untracked or ignored file in the way)" in err
    assert "README.md" not in err  # clean target files are not named
    assert "commit, move or stash" in err and "nothing was spent" in err
    _untouched(repo, task_id)
    assert (repo / "app.py").read_text().endswith("# mine, not committed\n")
    # --dry-run reports the same refusal without failing
    code, out, err = cli(capsys, "--json", "--dry-run", "build", "next")
    assert code == 0 and any("app.py (uncommitted changes)" in p for p in json.loads(out)["preflight"])


def test_an_unreachable_engine_is_refused_before_any_attempt(repo, monkeypatch, capsys, keyed):
    from sandbox.docker.client import get_client

    monkeypatch.chdir(repo)
    configure(repo, "http://127.0.0.1:9/v1")
    task_id = add_task(capsys, "Anything")
    get_client.cache_clear()
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    try:
        code, _, err = cli(capsys, "build", "next")
    finally:
        get_client.cache_clear()
    assert code == 4, err
    assert "/nonexistent/docker.sock" in err and "Traceback" not in err
    _untouched(repo, task_id)


def test_nothing_to_build_needs_no_key(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    code, out, err = cli(capsys, "--json", "build", "next")
    assert code == 0, err
    assert json.loads(out)["built"] is None
    code, out, err = cli(capsys, "--json", "build", "all")
    assert code == 0 and json.loads(out)["results"] == []


@pytest.mark.docker
def test_a_missing_image_names_the_command_that_builds_it(repo, monkeypatch, capsys, keyed):
    monkeypatch.chdir(repo)
    configure(repo, "http://127.0.0.1:9/v1", sandbox={"base_image": "codex-sandbox-test/no-such-base:1"})
    task_id = add_task(capsys, "Anything")
    code, _, err = cli(capsys, "build", "next")
    assert code == 4, err
    assert "codex-sandbox images build" in err and "not built" in err
    _untouched(repo, task_id)


@pytest.mark.docker
def test_no_key_is_asked_for_only_when_there_is_a_task(build_repo, monkeypatch, capsys):
    repo = build_repo
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    code, _, err = cli(capsys, "build", "next")
    assert code == 0 and "API key" not in err
    task_id = add_task(capsys, "Anything")
    code, _, err = cli(capsys, "build", "next")
    assert code == 2 and "no API key: set OPENAI_API_KEY" in err
    _untouched(repo, task_id)


def test_preflight_leaves_a_failed_task_failed_and_its_attempts_as_they_were(repo, monkeypatch, capsys, keyed):
    from runner.state.store import Store

    monkeypatch.chdir(repo)
    task_id = add_task(capsys, "Anything")
    with Store.open(repo) as store:
        store.update_task(task_id, event="task.failed", status="failed", attempts=2, last_error="earlier")
    subprocess.run(["git", "-C", str(repo), "checkout", "-q", "--detach"], check=True)
    code, _, err = cli(capsys, "build", "task", task_id)
    assert code == 2 and "HEAD is detached" in err
    assert db_rows(repo, "SELECT status, attempts, last_error FROM tasks") == [("failed", 2, "earlier")]
