"""Named forward migrations of .codex/state.db, recorded in `_migrations` and mirrored in PRAGMA user_version.

Append new migrations at the end; never edit or reorder an applied one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

MIGRATIONS: list[tuple[str, Callable[[sqlite3.Connection], None]]] = []


def migration(fn: Callable[[sqlite3.Connection], None]):
    """Register `fn` as the next migration under its function name."""
    MIGRATIONS.append((fn.__name__, fn))
    return fn


@migration
def m001_initial(db: sqlite3.Connection) -> None:
    db.execute(
        """CREATE TABLE lifecycle_state (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            state TEXT NOT NULL,
            entered_at TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT ''
        )"""
    )
    db.execute(
        """CREATE TABLE tasks (
            id TEXT PRIMARY KEY,
            type TEXT NOT NULL,
            title TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            dependencies TEXT NOT NULL DEFAULT '[]',
            status TEXT NOT NULL,
            priority INTEGER NOT NULL DEFAULT 5,
            estimated_complexity TEXT NOT NULL DEFAULT 'medium',
            target_files TEXT NOT NULL DEFAULT '[]',
            verification TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            commit_sha TEXT,
            error_context TEXT,
            plan_version INTEGER
        )"""
    )
    db.execute("CREATE INDEX tasks_status ON tasks(status)")
    db.execute(
        """CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            task_id TEXT,
            kind TEXT NOT NULL,
            status TEXT NOT NULL,
            pid INTEGER,
            container TEXT,
            image TEXT,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            tokens_in INTEGER NOT NULL DEFAULT 0,
            tokens_out INTEGER NOT NULL DEFAULT 0,
            manifest_path TEXT,
            commit_sha TEXT,
            error TEXT,
            details TEXT NOT NULL DEFAULT '{}'
        )"""
    )
    db.execute("CREATE INDEX runs_task ON runs(task_id)")
    db.execute("CREATE INDEX runs_status ON runs(status)")
    db.execute(
        """CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            ts TEXT NOT NULL,
            event TEXT NOT NULL,
            actor TEXT NOT NULL DEFAULT 'runner',
            task_id TEXT,
            run_id TEXT,
            details TEXT NOT NULL DEFAULT '{}'
        )"""
    )
    db.execute("CREATE INDEX audit_event ON audit_log(event)")
    db.execute("CREATE INDEX audit_task ON audit_log(task_id)")
    db.execute(
        """CREATE TABLE checkpoints (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            ts TEXT NOT NULL,
            from_state TEXT NOT NULL,
            to_state TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            path TEXT,
            snapshot TEXT NOT NULL DEFAULT '{}'
        )"""
    )
    db.execute(
        """CREATE TABLE plans (
            version INTEGER PRIMARY KEY,
            status TEXT NOT NULL,
            created_at TEXT NOT NULL,
            prd_path TEXT,
            prd_sha256 TEXT,
            prd_text TEXT NOT NULL DEFAULT '',
            feedback TEXT,
            summary TEXT NOT NULL DEFAULT '',
            task_ids TEXT NOT NULL DEFAULT '[]',
            model TEXT,
            attempts INTEGER NOT NULL DEFAULT 1,
            tokens_in INTEGER NOT NULL DEFAULT 0,
            tokens_out INTEGER NOT NULL DEFAULT 0
        )"""
    )


def apply_migrations(db: sqlite3.Connection) -> list[str]:
    """Apply every migration not yet recorded, each in its own transaction; return the names applied."""
    db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    done = {row[0] for row in db.execute("SELECT name FROM _migrations")}
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        from runner.errors import StateError

        raise StateError(
            f".codex/state.db has schema version {version}, newer than this codex-sandbox knows "
            f"({len(MIGRATIONS)}); upgrade codex-sandbox"
        )
    applied: list[str] = []
    for index, (name, fn) in enumerate(MIGRATIONS, start=1):
        if name in done:
            continue
        from runner.state.models import utcnow

        db.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated between our read and the write lock.
            if db.execute("SELECT 1 FROM _migrations WHERE name = ?", (name,)).fetchone():
                db.execute("ROLLBACK")
                continue
            fn(db)
            db.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (name, utcnow()))
            db.execute(f"PRAGMA user_version = {index}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        applied.append(name)
    return applied
