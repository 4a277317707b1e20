"""Human output of runs: `sandbox run` summarises (the patch on request), a build labels pre-existing
findings as such, and a wait on a terminal shows a live status — nothing of it under --json or in a pipe."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import threading
from pathlib import Path

import pytest
from tests.runner.build.build_support import FAKE_KEY, add_task, cli, configure, git
from tests.ci_support import cli_path

from sandbox.scripted_model.server import ScriptedModelServer

from tests.sandbox.sandbox_images import probe_image

pytestmark = pytest.mark.docker

MANY = "for i in $(seq 1 30); do printf 'line %s\\n' $i > f$i.txt; done"


def test_sandbox_run_prints_a_summary_and_the_patch_path(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    code, out, err = cli(capsys, "sandbox", "run", "--image", probe_image(), "--", "sh", "-c", MANY)
    assert code == 0, err
    assert "30 added, 0 modified, 0 deleted" in out
    assert "A f1.txt +1 -0" in out and "... and 10 more file(s)" in out
    assert "+line 1" not in out  # no patch body
    patch_line = next(line for line in out.splitlines() if line.startswith("patch: "))
    patch = Path(patch_line.split(" ", 2)[1])
    assert "--patch prints it" in patch_line and "+line 30" in patch.read_text()
    assert patch.is_relative_to(repo / ".codex" / "runs" / "sandbox")

    code, out, err = cli(capsys, "sandbox", "run", "--patch", "--image", probe_image(), "--", "sh", "-c", MANY)
    assert code == 0, err
    assert "+line 30" in out and "A f30.txt" in out and "more file(s)" not in out

    code, out, err = cli(capsys, "--json", "sandbox", "run", "--image", probe_image(), "--", "sh", "-c", MANY)
    data = json.loads(out)
    assert code == 0 and data["kept"] is False and Path(data["patch_path"]).is_file() and "+line 30" in data["patch"]


def test_a_build_labels_pre_existing_findings_as_such(build_repo, capsys):
    repo = build_repo
    (repo / "app.py").write_text("import os\n\n\ndef add(a, b):\n    return a + b\n")  # os: unused, already
    git(repo, "commit", "-qam", "unused import, before the task")
    change = ("*** Begin Patch\n*** Update File: app.py\n@@\n def add(a, b):\n     return a + b\n"
              "+\n+\n+def sub(a, b):\n+    return a - b\n*** End Patch")
    with ScriptedModelServer({"responses": [{"apply_patch": change}, {"message": "sub added"}]}) as model:
        configure(repo, model.base_url)
        add_task(capsys, "Add sub()", "app.py")
        code, out, err = cli(capsys, "build", "next")
    assert code == 0, err
    line = next(line for line in out.splitlines() if "lint.F401" in line)
    assert "pre-existing" in line and "app.py:1" in line and "warn" not in line
    assert "1 pre-existing" in next(line for line in out.splitlines() if line.strip().startswith("gates"))


def _with_tty_stderr(args: list[str], cwd: Path) -> tuple[int, str, str]:
    """Run the installed CLI with stderr on a pseudo-terminal (stdout a pipe); (code, stdout, what the tty saw)."""
    master, slave = pty.openpty()
    env = {**os.environ, "OPENAI_API_KEY": FAKE_KEY, "TERM": "xterm-256color", "COLUMNS": "120"}
    proc = subprocess.Popen([cli_path(), *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=slave,
                            stdin=subprocess.DEVNULL)
    os.close(slave)
    seen = bytearray()

    def drain() -> None:
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the child closed the terminal
                return
            if not chunk:
                return
            seen.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    out, _ = proc.communicate(timeout=180)
    reader.join(timeout=10)
    os.close(master)
    return proc.returncode, out.decode(), seen.decode(errors="replace")


def test_a_wait_on_a_terminal_shows_the_step_and_the_time_and_nothing_under_json(build_repo, capsys):
    repo = build_repo

    def slow(name: str) -> dict:
        return {"responses": [{"exec": f"echo hi > {name}"}, {"message": "done", "delay_s": 3.5}]}

    with ScriptedModelServer(slow("hello.txt")) as model:
        configure(repo, model.base_url)
        add_task(capsys, "Write hello.txt")
        code, out, tty = _with_tty_stderr(["build", "next"], repo)
    assert code == 0, tty[-2000:]
    assert " · 2s" in tty or " · 3s" in tty, tty[-2000:]  # spinner, step, elapsed time
    assert "codex" in tty and "\x1b[" in tty
    assert "ok  task" in out and "\x1b" not in out  # stdout (a pipe) gets the result only

    with ScriptedModelServer(slow("hello2.txt")) as model:
        configure(repo, model.base_url)
        add_task(capsys, "Write hello2.txt")
        code, out, tty = _with_tty_stderr(["--json", "build", "next"], repo)
    assert code == 0, tty[-2000:]
    assert " · " not in tty and "\x1b[" not in tty  # --json: nothing extra on the terminal
    assert json.loads(out)["status"] == "succeeded"


def test_no_live_status_in_a_pipe(build_repo, capsys):
    repo = build_repo
    with ScriptedModelServer({"responses": [{"exec": "echo hi > hello.txt"},
                                            {"message": "done", "delay_s": 2.5}]}) as model:
        configure(repo, model.base_url)
        add_task(capsys, "Write hello.txt")
        proc = subprocess.run([cli_path(), "build", "next"], cwd=repo, capture_output=True, text=True,
                              env={**os.environ, "OPENAI_API_KEY": FAKE_KEY, "TERM": "xterm-256color"},
                              check=False, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert " · " not in proc.stderr and "\x1b[" not in proc.stderr
    assert "codex exec in" in proc.stderr  # the step lines are printed as before
