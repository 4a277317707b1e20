"""The one state store: SQLite at .codex/state.db (WAL), every write in a transaction with its audit event."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

from runner.errors import InvalidInput
from runner.state.models import AuditEvent, Checkpoint, LifecycleInfo, Run, Task, utcnow
from runner.state.store_plans import PlanTables, json_column

STATE_DIR = ".codex"
DB_NAME = "state.db"

# Model field -> column where they differ ("commit" is an SQL keyword).
_TASK_COLS = {"commit": "commit_sha"}
_JSON_TASK = ("dependencies", "target_files")
_RUN_COLS = {"commit": "commit_sha"}
_JSON_RUN = ("details",)


def state_dir(root: Path) -> Path:
    """The repo's .codex directory."""
    return Path(root) / STATE_DIR


class Store(PlanTables):
    """Tasks, runs, plan versions, audit log, lifecycle state and checkpoints of one repo."""

    def __init__(self, root: Path, db: sqlite3.Connection):
        self.root = Path(root)
        self.db = db
        self._lock = threading.RLock()
        self._depth = 0

    # -- opening -------------------------------------------------------------------------------------

    @classmethod
    def open(cls, root: Path) -> Store:
        """Open (creating and migrating if needed) the store of the repo at `root`."""
        from runner.fsutil import ensure_git_excluded
        from runner.state.migrations import apply_migrations

        root = Path(root)
        directory = state_dir(root)
        try:
            directory.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(
                directory / DB_NAME, isolation_level=None, timeout=30.0, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise InvalidInput(f"cannot open state store {directory / DB_NAME}: {exc}") from None
        try:
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA busy_timeout = 30000")
            if db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("PRAGMA foreign_keys = ON")
            apply_migrations(db)
            store = cls(root, db)
            if db.execute("SELECT 1 FROM lifecycle_state WHERE id = 1").fetchone() is None:
                with store.transaction():
                    db.execute(
                        "INSERT OR IGNORE INTO lifecycle_state (id, state, entered_at, reason) VALUES (1, ?, ?, ?)",
                        ("IDLE", utcnow(), "initialised"),
                    )
        except sqlite3.DatabaseError as exc:
            db.close()
            raise InvalidInput(f"state store {directory / DB_NAME} is unreadable: {exc}") from None
        except BaseException:
            db.close()
            raise
        ensure_git_excluded(root)
        return store

    def close(self) -> None:
        """Close the connection (the last close folds the WAL back into the database)."""
        self.db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE); a nested call is a savepoint inside the outer one,
        so an inner failure the caller catches undoes only the inner writes."""
        with self._lock:
            if self._depth:
                name = f"sp{self._depth}"
                self.db.execute(f"SAVEPOINT {name}")
                self._depth += 1
                try:
                    yield self.db
                except BaseException:
                    self.db.execute(f"ROLLBACK TO {name}")
                    self.db.execute(f"RELEASE {name}")
                    raise
                else:
                    self.db.execute(f"RELEASE {name}")
                finally:
                    self._depth -= 1
                return
            self.db.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self.db
            except BaseException:
                self._depth = 0
                self.db.execute("ROLLBACK")
                raise
            self._depth = 0
            self.db.execute("COMMIT")

    # -- audit ---------------------------------------------------------------------------------------

    def audit(
        self,
        event: str,
        *,
        task_id: str | None = None,
        run_id: str | None = None,
        details: dict | None = None,
        actor: str = "runner",
    ) -> int:
        """Append an audit event (joining the caller's transaction if there is one); return its id."""
        with self.transaction() as db:
            cur = db.execute(
                "INSERT INTO audit_log (ts, event, actor, task_id, run_id, details) VALUES (?, ?, ?, ?, ?, ?)",
                (utcnow(), event, actor, task_id, run_id, json_column(details or {})),
            )
            return int(cur.lastrowid)

    def audit_events(
        self,
        event: str | None = None,
        task_id: str | None = None,
        since: str | None = None,
        *,
        run_id: str | None = None,
        limit: int | None = None,
    ) -> list[AuditEvent]:
        """Audit events oldest first; `event` matches exactly or as a dotted prefix ("plan" → plan.*)."""
        sql, args = "SELECT * FROM audit_log WHERE 1=1", []
        if event:
            sql += " AND (event = ? OR event LIKE ? ESCAPE '\\')"
            args += [event, event.replace("%", "\\%").replace("_", "\\_") + ".%"]
        if task_id:
            sql += " AND task_id = ?"
            args.append(task_id)
        if run_id:
            sql += " AND run_id = ?"
            args.append(run_id)
        if since:
            sql += " AND ts >= ?"
            args.append(since)
        sql += " ORDER BY id"
        rows = self.db.execute(sql, args).fetchall()
        if limit is not None:
            rows = rows[-limit:] if limit > 0 else []
        return [
            AuditEvent(**{**dict(row), "details": json.loads(row["details"] or "{}")}) for row in rows
        ]

    # -- tasks ---------------------------------------------------------------------------------------

    def add_task(self, task: Task, *, actor: str = "user", event: str = "task.added", details: dict | None = None) -> Task:
        """Insert a task with its audit event; a duplicate id is InvalidInput."""
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM tasks WHERE id = ?", (task.id,)).fetchone():
                raise InvalidInput(f"task {task.id} already exists")
            self._insert_task(db, task)
            self.audit(
                event, task_id=task.id, actor=actor,
                details={"title": task.title, "type": task.type, **(details or {})},
            )
        return task

    def _insert_task(self, db: sqlite3.Connection, task: Task) -> None:
        data = task.model_dump()
        cols = [_TASK_COLS.get(k, k) for k in data]
        values = [json_column(v) if k in _JSON_TASK else v for k, v in data.items()]
        db.execute(
            f"INSERT INTO tasks ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})", values
        )

    def _task_from_row(self, row: sqlite3.Row) -> Task:
        data = dict(row)
        data["commit"] = data.pop("commit_sha")
        for key in _JSON_TASK:
            data[key] = json.loads(data[key] or "[]")
        return Task(**data)

    def find_task(self, task_id: str) -> Task | None:
        """The task with this id, or None."""
        row = self.db.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
        return self._task_from_row(row) if row else None

    def get_task(self, task_id: str) -> Task:
        """The task with this id, or a unique id prefix or suffix (any case); InvalidInput if none or ambiguous."""
        task = self.find_task(task_id) or self.find_task(task_id.upper())
        if task:
            return task
        ref = task_id.upper().replace("%", "").replace("_", "")
        if len(ref) >= 4:
            # A unique prefix, or a unique suffix (tasks planned together share their ULID prefix,
            # so listings show the last 8 characters).
            for pattern in (ref + "%", "%" + ref):
                rows = self.db.execute(
                    "SELECT * FROM tasks WHERE id LIKE ? ORDER BY id LIMIT 3", (pattern,)
                ).fetchall()
                if len(rows) == 1:
                    return self._task_from_row(rows[0])
                if len(rows) > 1:
                    raise InvalidInput(f"task id {task_id!r} is ambiguous")
        raise InvalidInput(f"no task with id {task_id!r}")

    def list_tasks(self, status: str | Iterable[str] | None = None) -> list[Task]:
        """Tasks in creation order, optionally only those with the given status(es)."""
        if status is None:
            rows = self.db.execute("SELECT * FROM tasks ORDER BY created_at, id").fetchall()
        else:
            wanted = [status] if isinstance(status, str) else list(status)
            rows = self.db.execute(
                f"SELECT * FROM tasks WHERE status IN ({', '.join('?' for _ in wanted)}) ORDER BY created_at, id",
                wanted,
            ).fetchall()
        return [self._task_from_row(r) for r in rows]

    def update_task(self, task_id: str, *, event: str, details: dict | None = None, actor: str = "runner", **fields) -> Task:
        """Change fields of a task (validated by the model) together with an audit event."""
        with self.transaction() as db:
            current = self.find_task(task_id)
            if current is None:
                raise InvalidInput(f"no task with id {task_id!r}")
            data = current.model_dump()
            unknown = set(fields) - set(data)
            if unknown:
                raise ValueError(f"unknown task fields: {sorted(unknown)}")
            data.update(fields)
            data["updated_at"] = utcnow()
            task = Task.model_validate(data)
            changed = {k: v for k, v in task.model_dump().items() if k in fields or k == "updated_at"}
            assignments = ", ".join(f"{_TASK_COLS.get(k, k)} = ?" for k in changed)
            values = [json_column(v) if k in _JSON_TASK else v for k, v in changed.items()]
            db.execute(f"UPDATE tasks SET {assignments} WHERE id = ?", [*values, task_id])
            audit_details = {k: v for k, v in fields.items() if k in ("status", "attempts", "commit", "last_error")}
            self.audit(event, task_id=task_id, actor=actor, details={**audit_details, **(details or {})})
        return task

    # -- runs ----------------------------------------------------------------------------------------

    def start_run(self, run: Run, *, event: str = "run.started", details: dict | None = None) -> Run:
        """Record a new run (status usually `running`) with its audit event."""
        data = run.model_dump()
        cols = [_RUN_COLS.get(k, k) for k in data]
        values = [json_column(v) if k in _JSON_RUN else v for k, v in data.items()]
        with self.transaction() as db:
            db.execute(f"INSERT INTO runs ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})", values)
            self.audit(
                event, task_id=run.task_id, run_id=run.id,
                details={"kind": run.kind, "pid": run.pid, **(details or {})},
            )
        return run

    def _run_from_row(self, row: sqlite3.Row) -> Run:
        data = dict(row)
        data["commit"] = data.pop("commit_sha")
        data["details"] = json.loads(data["details"] or "{}")
        return Run(**data)

    def get_run(self, run_id: str) -> Run:
        """The run with this id; InvalidInput if none."""
        row = self.db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise InvalidInput(f"no run with id {run_id!r}")
        return self._run_from_row(row)

    def update_run(
        self, run_id: str, *, event: str | None = None, details: dict | None = None,
        run_details: dict | None = None, **fields,
    ) -> Run:
        """Change fields of a run (e.g. container, tokens); `run_details` merge into Run.details;
        audited with `details` when `event` is given."""
        with self.transaction() as db:
            data = self.get_run(run_id).model_dump()
            unknown = set(fields) - set(data)
            if unknown:
                raise ValueError(f"unknown run fields: {sorted(unknown)}")
            if run_details:
                fields["details"] = {**data["details"], **run_details}
            data.update(fields)
            run = Run.model_validate(data)
            if fields:
                changed = {k: v for k, v in run.model_dump().items() if k in fields}
                assignments = ", ".join(f"{_RUN_COLS.get(k, k)} = ?" for k in changed)
                values = [json_column(v) if k in _JSON_RUN else v for k, v in changed.items()]
                db.execute(f"UPDATE runs SET {assignments} WHERE id = ?", [*values, run_id])
            if event:
                self.audit(event, task_id=run.task_id, run_id=run_id, details=details or {})
        return run

    def finish_run(self, run_id: str, *, event: str, details: dict | None = None, **fields) -> Run:
        """Close a run: set its final fields (status, error, commit, tokens...) and finished_at.

        `details` go into the audit event and are merged into the run's own details too."""
        fields.setdefault("finished_at", utcnow())
        audit = {k: v for k, v in fields.items() if k in ("status", "error", "commit", "tokens_in", "tokens_out")}
        return self.update_run(
            run_id, event=event, details={**audit, **(details or {})}, run_details=details, **fields
        )

    def list_runs(
        self, task_id: str | None = None, kind: str | None = None, *, status: str | None = None
    ) -> list[Run]:
        """Runs oldest first, filtered by task, kind and status."""
        sql, args = "SELECT * FROM runs WHERE 1=1", []
        for col, value in (("task_id", task_id), ("kind", kind), ("status", status)):
            if value is not None:
                sql += f" AND {col} = ?"
                args.append(value)
        rows = self.db.execute(sql + " ORDER BY started_at, id", args).fetchall()
        return [self._run_from_row(r) for r in rows]

    def last_run(self, kind: str | None = None) -> Run | None:
        """The most recently started run (of a kind)."""
        sql, args = "SELECT * FROM runs", []
        if kind:
            sql, args = sql + " WHERE kind = ?", [kind]
        row = self.db.execute(sql + " ORDER BY started_at DESC, id DESC LIMIT 1", args).fetchone()
        return self._run_from_row(row) if row else None

    def tokens_spent(self) -> tuple[int, int]:
        """Input and output tokens over all runs and plan versions."""
        runs = self.db.execute("SELECT COALESCE(SUM(tokens_in),0), COALESCE(SUM(tokens_out),0) FROM runs").fetchone()
        plans = self.db.execute("SELECT COALESCE(SUM(tokens_in),0), COALESCE(SUM(tokens_out),0) FROM plans").fetchone()
        return int(runs[0] + plans[0]), int(runs[1] + plans[1])

    def replace_task(self, task: Task) -> None:
        """Overwrite every field of an existing task (a revised plan keeps the id); caller audits."""
        with self.transaction() as db:
            db.execute("DELETE FROM tasks WHERE id = ?", (task.id,))
            self._insert_task(db, task)

    # -- lifecycle -----------------------------------------------------------------------------------

    def lifecycle(self) -> LifecycleInfo:
        row = self.db.execute("SELECT state, entered_at, reason FROM lifecycle_state WHERE id = 1").fetchone()
        # model_construct: our own row needs no validation, and building the validator costs start-up time.
        if row is None:
            return LifecycleInfo.model_construct(state="IDLE", entered_at=utcnow(), reason="")
        return LifecycleInfo.model_construct(**dict(row))

    def lifecycle_state(self) -> str:
        """The current lifecycle state name."""
        row = self.db.execute("SELECT state FROM lifecycle_state WHERE id = 1").fetchone()
        return row[0] if row else "IDLE"

    def set_lifecycle_state(self, state: str, reason: str) -> None:
        """Low-level write used by lifecycle.transition (which checks TRANSITIONS and checkpoints)."""
        with self.transaction() as db:
            db.execute(
                "UPDATE lifecycle_state SET state = ?, entered_at = ?, reason = ? WHERE id = 1",
                (state, utcnow(), reason),
            )

    def add_checkpoint(self, from_state: str, to_state: str, reason: str, path: str | None, snapshot: dict) -> int:
        with self.transaction() as db:
            cur = db.execute(
                "INSERT INTO checkpoints (ts, from_state, to_state, reason, path, snapshot) VALUES (?, ?, ?, ?, ?, ?)",
                (utcnow(), from_state, to_state, reason, path, json_column(snapshot)),
            )
            return int(cur.lastrowid)

    def checkpoints(self) -> list[Checkpoint]:
        rows = self.db.execute("SELECT id, ts, from_state, to_state, reason, path FROM checkpoints ORDER BY id")
        return [Checkpoint(**dict(r)) for r in rows]

    def last_activity(self) -> str | None:
        """Timestamp of the newest audit event."""
        row = self.db.execute("SELECT MAX(ts) FROM audit_log").fetchone()
        return row[0] if row else None
