"""SIGTERM mid-build (a CI cancel, `docker stop`) unwinds like Ctrl-C: everything cleaned, the task pending again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from tests.runner.build.build_support import (
    FAKE_KEY,
    add_task,
    cli,
    codex_image,
    configure,
    db_rows,
    leftover_containers,
    live_worktrees,
)

from sandbox.scripted_model.server import ScriptedModelServer

pytestmark = pytest.mark.docker


def test_sigterm_mid_build_cleans_up_and_leaves_the_task_pending(repo, capsys, monkeypatch):
    codex_image()
    monkeypatch.chdir(repo)
    script = {"responses": [{"exec": "echo a > a.txt"}, {"message": "done", "delay_s": 60}]}
    with ScriptedModelServer(script) as model:
        configure(repo, model.base_url)
        task_id = add_task(capsys, "Write a.txt")
        proc = subprocess.Popen([sys.executable, "-m", "runner.cli.main", "build", "next"], cwd=repo,
                                env={**os.environ, "OPENAI_API_KEY": FAKE_KEY},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while len(model.requests) < 2 and time.monotonic() < deadline:  # Codex is waiting on the model
            time.sleep(0.05)
        assert len(model.requests) == 2 and leftover_containers(repo)  # the container is running
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        took = time.monotonic() - started
    assert proc.returncode == 130, err
    assert took < 20
    assert db_rows(repo, "SELECT status FROM tasks WHERE id = ?", task_id) == [("pending",)]
    assert db_rows(repo, "SELECT status FROM runs WHERE task_id = ?", task_id) == [("interrupted",)]
    runs = list((repo / ".codex" / "runs" / task_id).iterdir())
    assert json.loads((runs[0] / "manifest.json").read_text())["status"] == "interrupted"
    assert leftover_containers(repo) == [] and live_worktrees(repo) == []
    assert cli(capsys, "build", "next")[0] != 130  # and the next command can build it again
