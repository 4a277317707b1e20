"""Recovery on start: runs of dead processes become interrupted and their tasks pending again."""

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from runner.cli.main import main
from runner.state.models import Run, Task
from runner.state.recovery import dead_runs, recover
from runner.state.store import Store


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def store(repo):
    s = Store.open(repo)
    yield s
    s.close()


def start(store, pid, started_at=None, attempts=1):
    task = store.add_task(Task(title="work"))
    run = Run(task_id=task.id, kind="build", pid=pid)
    if started_at:
        run.started_at = started_at
    store.start_run(run)
    store.update_task(task.id, event="task.started", status="running", attempts=attempts)
    return task, run


def test_run_of_a_dead_process_is_interrupted_and_task_pending(store):
    task, run = start(store, dead_pid())
    line = recover(store.root, store, reap=False)
    assert line.startswith("recovered 1 interrupted run; task") and "back to pending" in line
    assert "\n" not in line
    got = store.get_run(run.id)
    assert got.status == "interrupted" and got.finished_at and "died" in got.error
    t = store.get_task(task.id)
    assert t.status == "pending" and t.attempts == 1 and run.id in t.last_error
    assert [e.event for e in store.audit_events()][-2:] == ["run.interrupted", "task.recovered"]
    assert recover(store.root, store, reap=False) is None  # idempotent


def test_attempt_is_counted_even_if_the_dead_process_did_not(store):
    task, _ = start(store, dead_pid(), attempts=0)
    recover(store.root, store, reap=False)
    assert store.get_task(task.id).attempts == 1


def test_live_run_is_left_alone(store):
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        task, run = start(store, sleeper.pid)
        assert recover(store.root, store, reap=False) is None
        assert store.get_run(run.id).status == "running"
        assert store.get_task(task.id).status == "running"
    finally:
        sleeper.kill()
        sleeper.wait()


def test_reused_pid_counts_as_dead(store):
    # A live process that started after the run did cannot be the run's owner.
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        long_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        _, run = start(store, sleeper.pid, started_at=long_ago)
        assert [r.id for r in dead_runs(store)] == [run.id]
    finally:
        sleeper.kill()
        sleeper.wait()


def test_every_command_recovers_on_start_with_one_line(store, repo, monkeypatch, capsys):
    task, _ = start(store, dead_pid())
    store.close()
    monkeypatch.chdir(repo)
    assert main(["status"]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("recovered 1 interrupted run")
    with Store.open(repo) as s:
        assert s.get_task(task.id).status == "pending"


def test_crashed_holder_lock_and_run_are_one_line(store, repo, monkeypatch, capsys):
    import json

    owner = dead_pid()
    start(store, owner)
    store.close()
    (repo / ".codex" / "lock").write_text(json.dumps({"pid": owner, "command": "build all"}))
    monkeypatch.chdir(repo)
    assert main(["task", "add", "next thing"]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1
    assert lines[0].startswith(f"took over the lock of dead pid {owner} (`build all`); recovered 1 interrupted run")
