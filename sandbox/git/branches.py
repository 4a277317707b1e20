"""The product's branch names: one task's (or one ad-hoc run's) commits go on `codex/<id>`."""

from __future__ import annotations

BRANCH_PREFIX = "codex/"


def task_branch(ref: str) -> str:
    """The branch of a task id (or, for a run with no task, its run id)."""
    return f"{BRANCH_PREFIX}{ref}"
