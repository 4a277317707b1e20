"""The state store: migrations, WAL, transactions that keep state and audit together."""

import sqlite3

import pytest
from pydantic import ValidationError

from runner.errors import InvalidInput, StateError
from runner.state.migrations import MIGRATIONS
from runner.state.models import Run, Task
from runner.state.store import Store


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path)
    yield s
    s.close()


def test_open_creates_wal_db_with_recorded_migrations(tmp_path):
    with Store.open(tmp_path) as s:
        assert s.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert s.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        names = [r[0] for r in s.db.execute("SELECT name FROM _migrations")]
        assert names == [name for name, _ in MIGRATIONS]
        assert s.lifecycle_state() == "IDLE"
    # reopening applies nothing twice
    with Store.open(tmp_path) as s:
        assert s.db.execute("SELECT COUNT(*) FROM _migrations").fetchone()[0] == len(MIGRATIONS)


def test_newer_schema_is_refused(tmp_path):
    Store.open(tmp_path).close()
    db = sqlite3.connect(tmp_path / ".codex" / "state.db")
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    db.commit()
    db.close()
    with pytest.raises(StateError, match="newer"):
        Store.open(tmp_path)


def test_codex_dir_is_excluded_from_git(repo):
    Store.open(repo).close()
    assert ".codex/" in (repo / ".git" / "info" / "exclude").read_text().splitlines()


def test_task_round_trip_and_audit(store):
    t = store.add_task(Task(title="add login", dependencies=[], target_files=["a.py"], priority=2))
    got = store.get_task(t.id)
    assert got == t
    assert store.get_task(t.id[:12].lower()).id == t.id  # unique prefix, any case
    assert store.get_task(t.id[-8:]).id == t.id  # or unique suffix
    updated = store.update_task(t.id, event="task.started", status="running", attempts=1)
    assert updated.status == "running" and updated.attempts == 1
    assert updated.updated_at >= t.updated_at
    events = [(e.event, e.task_id) for e in store.audit_events()]
    assert events == [("task.added", t.id), ("task.started", t.id)]
    assert store.audit_events("task", task_id=t.id)[1].details["status"] == "running"


def test_invalid_update_changes_nothing(store):
    t = store.add_task(Task(title="x"))
    with pytest.raises(ValidationError):
        store.update_task(t.id, event="task.bad", status="exploded")
    assert store.get_task(t.id).status == "pending"
    assert [e.event for e in store.audit_events()] == ["task.added"]


def test_failed_transaction_rolls_back_state_and_audit(store):
    with pytest.raises(RuntimeError), store.transaction():
        store.add_task(Task(title="one"))
        store.audit("something")
        raise RuntimeError("boom")
    assert store.list_tasks() == []
    assert store.audit_events() == []


def test_duplicate_task_id_rejected(store):
    t = store.add_task(Task(title="x"))
    with pytest.raises(InvalidInput, match="already exists"):
        store.add_task(Task(id=t.id, title="y"))
    assert len(store.list_tasks()) == 1


def test_unknown_and_ambiguous_task_ids(store):
    with pytest.raises(InvalidInput, match="no task"):
        store.get_task("NOPE")
    a = store.add_task(Task(id="01AAAA0000000000000000000A", title="a"))
    store.add_task(Task(id="01AAAA0000000000000000000B", title="b"))
    with pytest.raises(InvalidInput, match="ambiguous"):
        store.get_task("01AAAA")
    assert store.get_task("0000000A") == a
    assert store.get_task("01AAAA0000000000000000000A") == a


def test_runs_lifecycle_and_tokens(store):
    t = store.add_task(Task(title="x"))
    run = store.start_run(Run(task_id=t.id, kind="build", pid=123, image="img"))
    assert store.list_runs(status="running")[0].id == run.id
    done = store.finish_run(run.id, event="run.succeeded", status="succeeded", tokens_in=10, tokens_out=5,
                            commit="abc", details={"x": 1})
    assert done.finished_at and done.commit == "abc" and done.details == {"x": 1}
    assert store.get_run(run.id) == done
    assert store.tokens_spent() == (10, 5)
    assert store.list_runs(task_id=t.id, kind="build") == [done]
    assert store.list_runs(kind="verify") == []
    assert store.last_run().id == run.id
    assert [e.event for e in store.audit_events(run_id=run.id)] == ["run.started", "run.succeeded"]


def test_audit_filters(store):
    store.audit("plan.generated")
    store.audit("plan_x")
    store.audit("planner")
    store.audit("task.added", task_id="T1")
    assert [e.event for e in store.audit_events("plan")] == ["plan.generated"]
    assert [e.event for e in store.audit_events(task_id="T1")] == ["task.added"]
    cutoff = store.audit_events()[-1].ts
    assert [e.event for e in store.audit_events(since=cutoff)] == ["task.added"]
    assert [e.event for e in store.audit_events(limit=2)] == ["planner", "task.added"]


def test_corrupt_database_is_one_clear_error(tmp_path):
    (tmp_path / ".codex").mkdir()
    (tmp_path / ".codex" / "state.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(InvalidInput, match="unreadable"):
        Store.open(tmp_path)


def test_concurrent_first_open_migrates_once(tmp_path):
    import subprocess
    import sys

    code = "import sys, pathlib; from runner.state.store import Store; Store.open(pathlib.Path(sys.argv[1])).close()"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stderr=subprocess.PIPE) for _ in range(4)]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
    with Store.open(tmp_path) as s:
        assert s.db.execute("SELECT COUNT(*) FROM _migrations").fetchone()[0] == len(MIGRATIONS)
        assert s.db.execute("SELECT COUNT(*) FROM lifecycle_state").fetchone()[0] == 1


def test_nested_failure_undoes_only_the_inner_writes(store):
    with store.transaction():
        store.add_task(Task(title="kept"))
        try:
            with store.transaction():
                store.add_task(Task(title="undone"))
                raise RuntimeError("inner")
        except RuntimeError:
            pass
        store.audit("after")
    assert [t.title for t in store.list_tasks()] == ["kept"]
    assert [e.event for e in store.audit_events()] == ["task.added", "after"]
