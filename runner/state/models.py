"""Domain models of the lifecycle: tasks, runs, plan versions, audit events, checkpoints."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any, Literal

# Pydantic scans every installed distribution for plugins when the first model class is built
# (~0.1 s here); we use none, and `codex-sandbox status` must start in < 0.3 s.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

from pydantic import BaseModel, ConfigDict, Field

TaskType = Literal["implement", "test", "fix", "scaffold", "refactor", "upgrade", "patch"]
TaskStatus = Literal["pending", "running", "completed", "failed", "blocked", "skipped"]
Complexity = Literal["low", "medium", "high"]
RunKind = Literal["build", "verify", "deploy", "sandbox"]
RunStatus = Literal["running", "succeeded", "failed", "blocked", "interrupted"]
PlanStatus = Literal["draft", "approved", "superseded"]

TASK_TYPES: tuple[str, ...] = TaskType.__args__
TASK_STATUSES: tuple[str, ...] = TaskStatus.__args__
RUN_KINDS: tuple[str, ...] = RunKind.__args__
RUN_STATUSES: tuple[str, ...] = RunStatus.__args__


def utcnow() -> str:
    """Now as an ISO-8601 UTC string with microseconds (sorts as text)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def new_id() -> str:
    """A new ULID (sortable by creation time)."""
    from ulid import ULID

    return str(ULID())


class Model(BaseModel):
    # defer_build: a model's validator is built on first use, not at import (CLI start-up time).
    model_config = ConfigDict(extra="forbid", validate_assignment=True, defer_build=True)


class Task(Model):
    """One unit of work in the DAG."""

    id: str = Field(default_factory=new_id, description="ULID of the task.")
    type: TaskType = Field("implement", description="Kind of work.")
    title: str = Field(..., min_length=1, description="One-line summary.")
    description: str = Field("", description="What to do, in full.")
    dependencies: list[str] = Field(default_factory=list, description="Ids of tasks that must complete first.")
    status: TaskStatus = Field("pending", description="Where the task is.")
    priority: int = Field(5, ge=0, description="Lower runs first among ready tasks.")
    estimated_complexity: Complexity = Field("medium", description="The planner's size estimate.")
    target_files: list[str] = Field(default_factory=list, description="Files the task is expected to touch.")
    verification: str | None = Field(None, description="How to check the task is done.")
    created_at: str = Field(default_factory=utcnow, description="ISO-8601 UTC.")
    updated_at: str = Field(default_factory=utcnow, description="ISO-8601 UTC.")
    attempts: int = Field(0, ge=0, description="Runs started for this task.")
    last_error: str | None = Field(None, description="Why the last attempt failed.")
    commit: str | None = Field(None, description="Commit that completed the task.")
    error_context: str | None = Field(None, description="Context handed to the next attempt.")
    plan_version: int | None = Field(None, description="Plan version that created it; null for ad-hoc tasks.")


class Run(Model):
    """One execution attempt (a build, a test run, a deploy step, a sandbox command)."""

    id: str = Field(default_factory=new_id, description="ULID of the run.")
    task_id: str | None = Field(None, description="Task it works on, if any.")
    kind: RunKind = Field("build", description="What kind of run.")
    status: RunStatus = Field("running", description="Where the run is.")
    pid: int | None = Field(None, description="Host pid of the orchestrator running it.")
    container: str | None = Field(None, description="Container id or name.")
    image: str | None = Field(None, description="Image tag.")
    started_at: str = Field(default_factory=utcnow, description="ISO-8601 UTC.")
    finished_at: str | None = Field(None, description="ISO-8601 UTC.")
    tokens_in: int = Field(0, ge=0, description="Model input tokens spent.")
    tokens_out: int = Field(0, ge=0, description="Model output tokens spent.")
    manifest_path: str | None = Field(None, description="Path of the run manifest.")
    commit: str | None = Field(None, description="Commit produced or verified.")
    error: str | None = Field(None, description="Why it failed.")
    details: dict[str, Any] = Field(default_factory=dict, description="Anything else worth keeping.")


class PlanVersion(Model):
    """One version of the plan; revising adds a version and keeps the old ones."""

    version: int = Field(..., ge=1, description="1, 2, ...")
    status: PlanStatus = Field("draft", description="draft, approved or superseded.")
    created_at: str = Field(default_factory=utcnow, description="ISO-8601 UTC.")
    prd_path: str | None = Field(None, description="PRD file the plan came from.")
    prd_sha256: str | None = Field(None, description="Hash of the PRD text.")
    prd_text: str = Field("", description="The PRD text (kept for revisions).")
    feedback: str | None = Field(None, description="Revision feedback that produced this version.")
    summary: str = Field("", description="The planner's summary.")
    task_ids: list[str] = Field(default_factory=list, description="Tasks of this version, in plan order.")
    model: str | None = Field(None, description="Model that produced it.")
    attempts: int = Field(1, ge=0, description="Planner attempts it took.")
    tokens_in: int = Field(0, ge=0, description="Planner input tokens.")
    tokens_out: int = Field(0, ge=0, description="Planner output tokens.")


class AuditEvent(Model):
    """One line of the audit log."""

    id: int = Field(..., description="Sequence number.")
    ts: str = Field(..., description="ISO-8601 UTC.")
    event: str = Field(..., description="Dotted event name, e.g. task.added.")
    actor: str = Field("runner", description="user, model or runner.")
    task_id: str | None = Field(None, description="Task concerned.")
    run_id: str | None = Field(None, description="Run concerned.")
    details: dict[str, Any] = Field(default_factory=dict, description="Event data.")


class LifecycleInfo(Model):
    """The current lifecycle state and when it was entered."""

    state: str = Field(..., description="Lifecycle state.")
    entered_at: str = Field(..., description="ISO-8601 UTC.")
    reason: str = Field("", description="Why the last transition happened.")


class Checkpoint(Model):
    """A snapshot taken on a lifecycle transition."""

    id: int = Field(..., description="Sequence number.")
    ts: str = Field(..., description="ISO-8601 UTC.")
    from_state: str = Field(..., description="State left.")
    to_state: str = Field(..., description="State entered.")
    reason: str = Field("", description="Why.")
    path: str | None = Field(None, description="Checkpoint file under .codex/checkpoints/.")
