"""SIGKILL a `build next` at random moments: the next command recovers, and nothing is lost, doubled or left over."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from build_support import FAKE_KEY, codex_image, configure, git, leftover_containers, live_worktrees

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


def _cli(repo, *args: str) -> subprocess.Popen:
    env = {**os.environ, "OPENAI_API_KEY": FAKE_KEY}
    return subprocess.Popen([sys.executable, "-m", "runner.cli.main", *args], cwd=repo, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _add_task(repo, text: str) -> str:
    proc = _cli(repo, "--json", "task", "add", text)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return json.loads(out)["task"]["id"]


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
    codex_image()
    started = time.monotonic()
    rng = random.Random(int(os.environ.get("CODEX_SANDBOX_CRASH_SEED", "4")))
    configure(repo, "http://127.0.0.1:9/v1", policies={"security": {"semgrep": {"enabled": False}}})
    # one uninterrupted build measures how long a build takes, so kills land across all of it
    with ScriptedModelServer(_script()) as model:
        configure(repo, model.base_url, policies={"security": {"semgrep": {"enabled": False}}})
        task_ids = [_add_task(repo, "warm-up")]
        t0 = time.monotonic()
        proc = _cli(repo, "build", "next")
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        build_s = time.monotonic() - t0
    kills = 0
    for trial in range(TRIALS):
        assert time.monotonic() - started < TIME_BUDGET_S, f"over the time budget after {trial} trials"
        task_ids.append(_add_task(repo, f"trial {trial}"))
        with ScriptedModelServer(_script()) as model:
            configure(repo, model.base_url, policies={"security": {"semgrep": {"enabled": False}}})
            victim = _cli(repo, "build", "next")
            time.sleep(rng.uniform(0.05, build_s * 1.1))
            if victim.poll() is None:
                victim.send_signal(signal.SIGKILL)
                kills += 1
            victim.communicate(timeout=60)
        with ScriptedModelServer(_script()) as model:  # the next command recovers, then builds what is left
            configure(repo, model.base_url, policies={"security": {"semgrep": {"enabled": False}}})
            proc = _cli(repo, "build", "all")
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, f"trial {trial}: {err}"
        _check_invariants(repo, task_ids)
    assert kills >= TRIALS // 2  # most trials really killed a build mid-way
    with sqlite3.connect(repo / ".codex" / "state.db") as db:
        statuses = {s for (s,) in db.execute("SELECT status FROM tasks")}
    assert statuses == {"completed"}
