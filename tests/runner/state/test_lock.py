"""The repo lock: one orchestrator per repo, exit 5 naming the holder, --wait, stale takeover."""

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from runner.cli.main import main
from runner.errors import StateError
from runner.state.lock import RepoLock, holder_if_locked, lock_path

HOLD = textwrap.dedent("""
    import sys, time, pathlib
    from runner.state.lock import RepoLock
    with RepoLock(pathlib.Path(sys.argv[1]), "build all"):
        print("locked", flush=True)
        time.sleep(float(sys.argv[2]))
""")


def hold(root, seconds):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(root), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_second_holder_fails_at_once_naming_the_first(tmp_path):
    proc = hold(tmp_path, 30)
    try:
        start = time.monotonic()
        with pytest.raises(StateError, match=rf"locked by pid {proc.pid} \(`build all`\).*--wait"), \
                RepoLock(tmp_path, "build next"):
            pass
        assert time.monotonic() - start < 1
        assert holder_if_locked(tmp_path)["pid"] == proc.pid
    finally:
        proc.kill()
        proc.wait()


def test_wait_takes_the_lock_when_released(tmp_path):
    proc = hold(tmp_path, 1.0)
    try:
        start = time.monotonic()
        with RepoLock(tmp_path, "build next", wait=True, timeout=20) as lock:
            assert time.monotonic() - start > 0.3
            assert json.loads(lock_path(tmp_path).read_text())["pid"] == os.getpid()
            assert lock.took_over is None  # released cleanly, not taken over
    finally:
        proc.wait()
    assert lock_path(tmp_path).read_text() == ""  # a released lock names nobody
    assert holder_if_locked(tmp_path) is None


def test_lock_of_a_killed_holder_is_taken_over(tmp_path):
    proc = hold(tmp_path, 30)
    proc.kill()
    proc.wait()
    with RepoLock(tmp_path, "status") as lock:
        assert lock.took_over["pid"] == proc.pid


def test_dead_holder_whose_lock_lives_on_in_a_child_is_replaced(tmp_path):
    # The holder hands its locked descriptor to a sleeping child, then dies: the flock stays held.
    code = textwrap.dedent("""
        import sys, os, pathlib, subprocess
        from runner.state.lock import RepoLock, lock_path
        lock = RepoLock(pathlib.Path(sys.argv[1]), "build all").__enter__()  # kept: a dropped lock is released
        held = str(lock_path(pathlib.Path(sys.argv[1])))
        fd = next(int(n) for n in os.listdir("/proc/self/fd")
                  if os.path.exists(f"/proc/self/fd/{n}") and os.readlink(f"/proc/self/fd/{n}") == held)
        child = subprocess.Popen(["sleep", "30"], pass_fds=[fd], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        print(child.pid, flush=True)
        os._exit(0)
    """)
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True)
    child = int(out.stdout.strip())
    try:
        assert holder_if_locked(tmp_path) is not None  # the child keeps the flock alive
        with RepoLock(tmp_path, "build next") as lock:
            assert lock.took_over["command"] == "build all"
    finally:
        os.kill(child, 9)


def test_reentrant_in_one_process(tmp_path):
    with RepoLock(tmp_path, "outer"):
        with RepoLock(tmp_path, "inner"):
            pass
        assert json.loads(lock_path(tmp_path).read_text())["command"] == "outer"
    assert holder_if_locked(tmp_path) is None


def test_cli_mutating_command_exits_5_while_locked(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    assert main(["status"]) == 0
    proc = hold(repo, 30)
    try:
        capsys.readouterr()
        assert main(["task", "add", "do it"]) == 5
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"locked by pid {proc.pid}" in err
        assert main(["status"]) == 0  # read-only commands do not need the lock
        assert f"held by pid {proc.pid}" in capsys.readouterr().out
    finally:
        proc.kill()
        proc.wait()
