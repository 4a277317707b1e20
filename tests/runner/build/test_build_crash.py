"""SIGKILL a `build next` at random moments: the next command recovers, and nothing is lost, doubled or left over."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from tests.runner.build.build_support import FAKE_KEY, codex_image, configure, git, leftover_containers, live_worktrees

from sandbox.scripted_model.server import ScriptedModelServer

pytestmark = [pytest.mark.docker, pytest.mark.slow]

TRIALS = int(os.environ.get("CODEX_SANDBOX_CRASH_TRIALS", "20"))
TIME_BUDGET_S = 240  # the whole test stays under 4 minutes; it fails rather than overrun


def _script() -> dict:
    # a unique file per run, so every build has a real change to commit
    return {"responses": [
        {"exec": "f=f-$(date +%s%N).txt; echo \"$f\" > \"$f\""},
        {"message": "wrote a file"},
    ]}


# A CLI process with everything imported, waiting for its arguments on stdin: the kill then lands in the
# build itself, not in interpreter start-up, and a trial costs seconds instead of tens of seconds.
WARM = """
import sys
import docker, runner.cli.main, runner.build.commands, runner.build.attempt, runner.build.codex_step, runner.state.session
import runner.policy, sandbox.docker.container, sandbox.gateway, sandbox.tree.extract, sandbox.tree.worktree, sandbox.git.integrate
from runner.cli.app import build_command
build_command()
args = sys.stdin.readline().split()
sys.exit(runner.cli.main.main(args))
"""


def _warm(repo) -> subprocess.Popen:
    env = {**os.environ, "OPENAI_API_KEY": FAKE_KEY}
    return subprocess.Popen([sys.executable, "-c", WARM], cwd=repo, env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _go(proc: subprocess.Popen, *args: str) -> subprocess.Popen:
    proc.stdin.write(" ".join(args) + "\n")
    proc.stdin.flush()
    return proc


def _add_task(repo, text: str) -> str:
    from runner.state.store import Store
    from runner.state.tasks import add_task, make_task

    with Store.open(repo) as store:  # no command runs now, so no lock is needed
        return add_task(store, make_task(text)).id


def _check_invariants(repo, task_ids: list[str]) -> None:
    with sqlite3.connect(repo / ".codex" / "state.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = db.execute("SELECT id, status FROM tasks").fetchall()
        running_runs = db.execute("SELECT id FROM runs WHERE status = 'running'").fetchall()
    assert sorted(r[0] for r in rows) == sorted(task_ids)  # none lost, none duplicated
    statuses = dict(rows)
    assert "running" not in statuses.values() and running_runs == []
    trailers = git(repo, "log", "main", "--format=%(trailers:key=Task-Id,valueonly)").split()
    for task_id, status in statuses.items():
        # a completed task landed exactly once; any other never landed
        assert trailers.count(task_id) == (1 if status == "completed" else 0), (task_id, status)
    assert leftover_containers(repo) == []
    assert live_worktrees(repo) == []
    assert git(repo, "status", "--porcelain") == ""


def test_sigkill_at_random_moments_loses_nothing(repo):
    # A new seed every run unless one is given; a failure names it, so CODEX_SANDBOX_CRASH_SEED=<seed> replays it.
    seed = int(os.environ.get("CODEX_SANDBOX_CRASH_SEED") or random.SystemRandom().randrange(1 << 32))
    try:
        _random_kills(repo, seed)
    except AssertionError as exc:
        raise AssertionError(f"with CODEX_SANDBOX_CRASH_SEED={seed}: {exc}") from exc


def _random_kills(repo, seed: int) -> None:
    codex_image()
    started = time.monotonic()
    rng = random.Random(seed)
    no_semgrep = {"security": {"semgrep": {"enabled": False}}}  # keeps a trial short; gates still run
    # one uninterrupted build measures how long a build takes, so kills land across all of it
    task_ids = [_add_task(repo, "warm-up")]
    with ScriptedModelServer(_script()) as model:
        configure(repo, model.base_url, policies=no_semgrep)
        proc = _warm(repo)
        time.sleep(3)  # let it finish importing
        t0 = time.monotonic()
        _, err = _go(proc, "build", "next").communicate(timeout=120)
        assert proc.returncode == 0, err
        build_s = time.monotonic() - t0
    kills = 0
    spare = (_warm(repo), _warm(repo), time.monotonic())
    for trial in range(TRIALS):
        assert time.monotonic() - started < TIME_BUDGET_S, f"over the time budget after {trial} trials"
        task_ids.append(_add_task(repo, f"trial {trial}"))
        victim, survivor, spawned = spare
        time.sleep(max(0.0, 2.5 - (time.monotonic() - spawned)))  # both finished importing: the clock starts
        with ScriptedModelServer(_script()) as model:
            configure(repo, model.base_url, policies=no_semgrep)
            _go(victim, "build", "next")
            time.sleep(rng.uniform(0.0, build_s * 1.05))
            if victim.poll() is None:
                victim.send_signal(signal.SIGKILL)
                kills += 1
            victim.communicate(timeout=60)
        with ScriptedModelServer(_script()) as model:  # the next command recovers, then builds what is left
            configure(repo, model.base_url, policies=no_semgrep)
            _, err = _go(survivor, "build", "all").communicate(timeout=120)
            assert survivor.returncode == 0, f"trial {trial}: {err}"
        spare = (_warm(repo), _warm(repo), time.monotonic()) if trial + 1 < TRIALS else None
        _check_invariants(repo, task_ids)
    assert kills >= TRIALS // 2  # most trials really killed a build mid-way
    with sqlite3.connect(repo / ".codex" / "state.db") as db:
        statuses = {s for (s,) in db.execute("SELECT status FROM tasks")}
    assert statuses == {"completed"}
