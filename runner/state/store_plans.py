"""Plan versions in the state store (a part of `Store`, kept apart to keep each file small)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from runner.state.models import PlanVersion

_JSON_PLAN = ("task_ids",)


def json_column(value: Any) -> str:
    """The text stored in a JSON column: sorted keys, anything unknown as its str()."""
    return json.dumps(value, sort_keys=True, default=str)


class PlanTables:
    """The `plans` table: every plan version, the newest one current."""

    db: sqlite3.Connection

    def _plan_from_row(self, row: sqlite3.Row) -> PlanVersion:
        data = dict(row)
        data["task_ids"] = json.loads(data["task_ids"] or "[]")
        return PlanVersion(**data)

    def has_plan(self) -> bool:
        """True once a plan version exists (from then on the lifecycle guards apply to everything)."""
        return self.db.execute("SELECT 1 FROM plans LIMIT 1").fetchone() is not None

    def plan(self, version: int | None = None) -> PlanVersion | None:
        """A plan version, or the newest one."""
        if version is None:
            row = self.db.execute("SELECT * FROM plans ORDER BY version DESC LIMIT 1").fetchone()
        else:
            row = self.db.execute("SELECT * FROM plans WHERE version = ?", (version,)).fetchone()
        return self._plan_from_row(row) if row else None

    def plans(self) -> list[PlanVersion]:
        """Every plan version, oldest first."""
        return [self._plan_from_row(r) for r in self.db.execute("SELECT * FROM plans ORDER BY version")]

    def next_plan_version(self) -> int:
        row = self.db.execute("SELECT COALESCE(MAX(version), 0) FROM plans").fetchone()
        return int(row[0]) + 1

    def insert_plan(self, plan: PlanVersion) -> PlanVersion:
        """Insert a plan version (callers wrap it in a transaction with its tasks and audit event)."""
        data = plan.model_dump()
        values = [json_column(v) if k in _JSON_PLAN else v for k, v in data.items()]
        with self.transaction() as db:
            db.execute(
                f"INSERT INTO plans ({', '.join(data)}) VALUES ({', '.join('?' for _ in data)})", values
            )
        return plan

    def set_plan_status(self, version: int, status: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE plans SET status = ? WHERE version = ?", (status, version))

    def append_plan_task(self, version: int, task_id: str) -> None:
        """Add a hand-made task to a plan version's task list (caller audits)."""
        with self.transaction() as db:
            plan = self.plan(version)
            if plan is not None and task_id not in plan.task_ids:
                db.execute("UPDATE plans SET task_ids = ? WHERE version = ?",
                           (json_column([*plan.task_ids, task_id]), version))

