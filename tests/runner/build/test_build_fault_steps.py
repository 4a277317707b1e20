"""`build next` killed at every named step of commit, merge and branch move (CODEX_SANDBOX_FAULT):
the next command recovers, the task lands exactly once, and the user's checkout holds only their own work."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.runner.build.build_support import FAKE_KEY, configure, db_rows, git, leftover_containers, live_worktrees

from sandbox.faults import FAULT_ENV, STEPS
from sandbox.scripted_model.server import ScriptedModelServer

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(300)]

CLI = str(Path(sys.executable).parent / "codex-sandbox")
NEEDS_MOVED_MAIN = {"merge.commit-written"}  # only a true merge writes a merge commit


def _script(wait_s: float) -> dict:
    # The exec waits, so the test can commit on main after the worktree was taken (a true merge follows).
    return {"responses": [{"exec": f"sleep {wait_s}; echo done > result.txt"}, {"message": "wrote result.txt"}]}


def _cli(repo: Path, *args: str, fault: str | None = None) -> subprocess.Popen:
    env = {**os.environ, "OPENAI_API_KEY": FAKE_KEY}
    env.pop(FAULT_ENV, None)
    if fault:
        env[FAULT_ENV] = fault
    return subprocess.Popen([CLI, *args], cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _user_work(repo: Path) -> None:
    (repo / "README.md").write_text("# sample\n\nmy unsaved notes\n")
    (repo / "scratch.txt").write_text("untracked, mine\n")


@pytest.mark.parametrize("step", STEPS)
def test_build_killed_at_each_step_recovers_on_the_next_command(build_repo, step):
    repo = build_repo
    proc = subprocess.run([CLI, "--json", "task", "add", "write result.txt"], cwd=repo, capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    _user_work(repo)
    move_main = step in NEEDS_MOVED_MAIN
    with ScriptedModelServer(_script(3 if move_main else 0)) as model:
        configure(repo, model.base_url, policies={"security": {"semgrep": {"enabled": False}}})
        victim = _cli(repo, "build", "next", fault=step)
        if move_main:
            deadline = time.monotonic() + 60
            while not model.requests and time.monotonic() < deadline:
                time.sleep(0.05)
            assert model.requests, "the build never reached the model"
            (repo / "CHANGES.md").write_text("a user's commit made during the build\n")
            git(repo, "add", "CHANGES.md")
            git(repo, "commit", "-q", "-m", "user change during the build")
        _, err = victim.communicate(timeout=180)
    assert victim.returncode == -9, f"{step}: the fault did not fire ({victim.returncode}): {err[-800:]}"

    with ScriptedModelServer(_script(0)) as model:  # the next command recovers, then builds what is left
        configure(repo, model.base_url, policies={"security": {"semgrep": {"enabled": False}}})
        after = _cli(repo, "build", "all")
        _, err = after.communicate(timeout=180)
    assert after.returncode == 0, f"{step}: {err[-800:]}"

    (task_id, status), = db_rows(repo, "SELECT id, status FROM tasks")
    assert status == "completed"
    trailers = git(repo, "log", "main", "--format=%(trailers:key=Task-Id,valueonly)").split()
    assert trailers.count(task_id) == 1, f"{step}: landed {trailers.count(task_id)} times"
    assert (repo / "result.txt").read_text() == "done\n"
    assert db_rows(repo, "SELECT id FROM runs WHERE status = 'running'") == []
    assert leftover_containers(repo) == [] and live_worktrees(repo) == []
    status_lines = sorted(line.strip() for line in git(repo, "status", "--porcelain").splitlines())
    assert status_lines == ["?? scratch.txt", "M README.md"], f"{step}: {status_lines}"
    assert not list((repo / ".git" / "codex-sandbox" / "moves").glob("*.json"))
