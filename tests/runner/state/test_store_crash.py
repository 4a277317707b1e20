"""Crash test of the store: SIGKILL a writer at random moments; nothing committed is lost or
duplicated, the database passes integrity_check, and recovery returns the interrupted task."""

import random
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from runner.state.recovery import recover
from runner.state.store import Store

WRITER = textwrap.dedent("""
    import os, sys, pathlib, time
    from runner.state import lifecycle
    from runner.state.models import PlanVersion, Run, Task
    from runner.state.store import Store

    store = Store.open(pathlib.Path(sys.argv[1]))
    if store.plan() is None:
        store.insert_plan(PlanVersion(version=1, prd_text="crash test"))
    print("ready", flush=True)
    i = 0
    while True:
        with store.transaction():
            task = store.add_task(Task(title=f"t{i}"))
            run = store.start_run(Run(task_id=task.id, kind="build", pid=os.getpid()))
            store.update_task(task.id, event="task.started", status="running", attempts=1)
        print("started", task.id, run.id, flush=True)
        store.update_run(run.id, container=f"c{i}", run_details={"step": i})
        time.sleep(0.003)  # the run "works" a moment, so kills also land mid-run
        with store.transaction():
            store.finish_run(run.id, event="run.succeeded", status="succeeded", commit="f" * 40)
            store.update_task(task.id, event="task.completed", status="completed", commit="f" * 40)
        print("completed", task.id, flush=True)
        if i % 3 == 0:
            target = "IDLE" if store.lifecycle_state() == "PLANNING" else "PLANNING"
            lifecycle.transition(store, target, reason=f"step {i}")
            print("state", target, flush=True)
        i += 1
""")


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_nothing(tmp_path):
    rng = random.Random(20261124)
    started: list[str] = []
    completed: set[str] = set()
    interrupted = 0
    for trial in range(20):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.01, 0.35))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for line in proc.stdout.read().splitlines():
            kind, *rest = line.split()
            if kind == "started":
                started.append(rest[0])
            elif kind == "completed":
                completed.add(rest[0])
        proc.stdout.close()

        with Store.open(tmp_path) as store:
            assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            recover(tmp_path, store, reap=False)
            tasks = store.list_tasks()
            ids = [t.id for t in tasks]
            assert len(ids) == len(set(ids))
            # every task reported as committed is there exactly once; at most one more was mid-commit
            assert set(started) <= set(ids) and len(ids) - len(set(started)) <= 1
            by_id = {t.id: t for t in tasks}
            assert all(by_id[t].status == "completed" for t in completed)
            assert not store.list_runs(status="running")
            for t in tasks:
                assert t.status in ("completed", "pending"), t
                interrupted += t.status == "pending"
                if t.status == "pending":  # interrupted mid-run, back in the queue with the attempt counted
                    assert t.attempts == 1 and "interrupted" in t.last_error
            # state and audit were written together, always
            db = store.db
            assert db.execute("SELECT COUNT(*) FROM tasks").fetchone()[0] == len(store.audit_events("task.added"))
            assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == len(store.audit_events("run.started"))
            checkpoints = store.checkpoints()
            assert len(checkpoints) == len(store.audit_events("lifecycle.transition"))
            expected = checkpoints[-1].to_state if checkpoints else "IDLE"
            assert store.lifecycle_state() == expected
            for cp in checkpoints:
                assert (tmp_path / cp.path).is_file()
            # finish the interrupted task so the next trial starts clean
            for t in tasks:
                if t.status == "pending":
                    store.update_task(t.id, event="task.completed", status="completed")
    assert len(started) >= 20 and interrupted >= 1
    print(f"{len(started)} tasks over 20 kills, {interrupted} interrupted mid-run")
