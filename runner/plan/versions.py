"""Plan versions in the store: reading the PRD, storing a validated plan (re-planning keeps completed
tasks and their commits), approving it, and the plan view that `plan show` renders."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from runner.state import dag
from runner.errors import InvalidInput, StateError
from runner.state.models import Complexity, PlanVersion, Task, TaskType, new_id, utcnow

if TYPE_CHECKING:
    from runner.state.store import Store

PRD_MAX_BYTES = 256 * 1024


class PlannedTask(BaseModel):
    """A task as the planner model writes it; `id` is a short key (T1, T2...) or an existing task id."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="Short unique key such as T1, or the id of an existing task to keep.")
    type: TaskType = Field(description="Kind of work.")
    title: str = Field(description="One-line summary.")
    description: str = Field(description="What to do, precisely enough for a coding agent.")
    dependencies: list[str] = Field(description="Keys of tasks that must be completed first.")
    priority: int = Field(description="0 runs first among ready tasks; larger numbers later.")
    estimated_complexity: Complexity = Field(description="low, medium or high.")
    target_files: list[str] = Field(description="Repository paths the task is expected to touch.")
    verification: str | None = Field(description="How to check the task is done (a test command), or null.")


class PlanDraft(BaseModel):
    """The planner's whole answer."""

    model_config = ConfigDict(extra="forbid")

    summary: str = Field(description="Two or three sentences on the approach.")
    tasks: list[PlannedTask] = Field(description="Every task of the plan.")


def read_prd(path: Path) -> str:
    """The PRD text; a missing, empty, binary or oversized file is InvalidInput naming why."""
    path = Path(path)
    if not path.exists():
        raise InvalidInput(f"PRD file not found: {path}")
    if not path.is_file():
        raise InvalidInput(f"PRD path is not a file: {path}")
    size = path.stat().st_size
    if size > PRD_MAX_BYTES:
        raise InvalidInput(f"PRD {path} is {size} bytes; the limit is {PRD_MAX_BYTES}")
    raw = path.read_bytes()
    if b"\0" in raw:
        raise InvalidInput(f"PRD {path} is a binary file, not text")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"PRD {path} is not UTF-8 text") from None
    if not text.strip():
        raise InvalidInput(f"PRD {path} is empty")
    return text


def check_draft(draft: PlanDraft, *, known: set[str]) -> None:
    """Raise DagError if the draft breaks a DAG rule (dependencies may name `known` kept tasks)."""
    if not draft.tasks:
        raise dag.DagError(["the plan has no tasks"])
    bad_priority = [t.id for t in draft.tasks if t.priority < 0]
    if bad_priority:
        raise dag.DagError([f"negative priority on {', '.join(bad_priority)}"])
    dag.validate(draft.tasks, known=known)


def kept_tasks(store: Store) -> dict[str, Task]:
    """Completed tasks survive every re-plan, with their commits."""
    return {t.id: t for t in store.list_tasks(status="completed")}


def store_plan(
    store: Store,
    draft: PlanDraft,
    *,
    prd_text: str,
    prd_path: str | None,
    feedback: str | None = None,
    model: str | None = None,
    attempts: int = 1,
    tokens: tuple[int, int] = (0, 0),
) -> PlanVersion:
    """Store a validated draft as the next plan version and enter PLANNING, all in one transaction."""
    from runner.state import lifecycle

    with store.transaction():
        keep = kept_tasks(store)
        existing = {t.id: t for t in store.list_tasks() if t.status != "skipped"}
        # Dependencies may name kept (completed) tasks and ad-hoc tasks, which no re-plan removes.
        check_draft(draft, known=set(keep) | {i for i, t in existing.items() if t.plan_version is None})
        previous = store.plan()
        version = store.next_plan_version()
        ids = {p.id: (p.id if p.id in existing else new_id()) for p in draft.tasks}
        task_ids = [tid for tid in keep if tid not in ids.values()]
        for planned in draft.tasks:
            tid = ids[planned.id]
            task_ids.append(tid)
            if tid in keep:
                continue  # completed work is kept as it is
            fields = {
                "type": planned.type, "title": planned.title, "description": planned.description,
                "dependencies": [ids.get(d, d) for d in planned.dependencies], "priority": planned.priority,
                "estimated_complexity": planned.estimated_complexity, "target_files": planned.target_files,
                "verification": planned.verification, "plan_version": version,
            }
            if tid in existing:
                old = existing[tid]
                store.replace_task(old.model_copy(update={**fields, "status": "pending", "updated_at": utcnow()}))
                store.audit("task.replanned", task_id=tid, actor="model", details={"plan_version": version})
            else:
                store.add_task(Task(id=tid, **fields), actor="model", event="task.planned",
                               details={"plan_version": version, "key": planned.id})
        if previous is not None:
            placed = set(task_ids)
            for tid in previous.task_ids:
                old = existing.get(tid)
                if old and tid not in placed and old.status != "completed":
                    store.update_task(tid, event="task.superseded", status="skipped",
                                      details={"plan_version": version})
            store.set_plan_status(previous.version, "superseded")
        plan = store.insert_plan(PlanVersion(
            version=version, status="draft", prd_path=prd_path,
            prd_sha256=hashlib.sha256(prd_text.encode()).hexdigest(), prd_text=prd_text,
            feedback=feedback, summary=draft.summary, task_ids=task_ids, model=model,
            attempts=attempts, tokens_in=tokens[0], tokens_out=tokens[1],
        ))
        store.audit(
            "plan.revised" if feedback is not None else "plan.generated", actor="model",
            details={"version": version, "tasks": len(task_ids), "kept": len(keep), "attempts": attempts,
                     "tokens_in": tokens[0], "tokens_out": tokens[1]},
        )
        reason = f"plan v{version} {'revised' if feedback is not None else 'generated'}"
        lifecycle.transition(store, "PLANNING", reason=reason)
    return plan


def approve_plan(store: Store) -> PlanVersion:
    """Approve the newest draft and move PLANNING → SCAFFOLDING (one transaction)."""
    from runner.state import lifecycle

    with store.transaction():
        plan = store.plan()
        if plan is None:
            raise StateError("there is no plan to approve; run `codex-sandbox plan generate PRD.md`")
        if plan.status != "draft":
            raise StateError(f"plan v{plan.version} is {plan.status}, not a draft")
        tasks = [t for t in store.list_tasks() if t.id in set(plan.task_ids)]
        dag.validate(tasks)
        store.set_plan_status(plan.version, "approved")
        store.audit("plan.approved", actor="user", details={"version": plan.version})
        lifecycle.transition(store, "SCAFFOLDING", reason=f"plan v{plan.version} approved")
    return store.plan(plan.version)


class PlanView(BaseModel):
    """What `plan show --json` prints."""

    model_config = ConfigDict(defer_build=True)

    version: int | None = Field(None, description="Plan version shown (null: no plan yet).")
    status: str | None = Field(None, description="draft, approved or superseded.")
    summary: str = Field("", description="The planner's summary.")
    lifecycle_state: str = Field(..., description="Current lifecycle state.")
    versions: list[int] = Field(default_factory=list, description="Every stored plan version.")
    tasks: list[Task] = Field(default_factory=list, description="Tasks of this version in topological order.")
    levels: list[list[str]] = Field(default_factory=list, description="Execution levels (ids that could run in parallel).")
    progress: dict[str, int] = Field(default_factory=dict, description="Task count per status.")


def plan_view(store: Store, version: int | None = None) -> PlanView:
    """The plan (newest or given version) with its tasks ordered and levelled."""
    plan = store.plan(version)
    if plan is None:
        if version is not None:
            raise InvalidInput(f"no plan version {version}")
        tasks = store.list_tasks()
        return _view(None, tasks, store)
    wanted = set(plan.task_ids)
    tasks = [t for t in store.list_tasks() if t.id in wanted]
    return _view(plan, tasks, store)


def _view(plan: PlanVersion | None, tasks: list[Task], store: Store) -> PlanView:
    ids = {t.id for t in tasks}
    # Dependencies outside the shown set (e.g. skipped) must not break ordering.
    local = [t.model_copy(update={"dependencies": [d for d in t.dependencies if d in ids]}) for t in tasks]
    by_id = {t.id: t for t in tasks}
    try:
        lv = dag.levels(local)
        ordered = [by_id[t.id] for level in lv for t in level]
        levels = [[t.id for t in level] for level in lv]
    except dag.DagError:
        ordered, levels = tasks, []
    progress: dict[str, int] = {}
    for t in tasks:
        progress[t.status] = progress.get(t.status, 0) + 1
    return PlanView(
        version=plan.version if plan else None, status=plan.status if plan else None,
        summary=plan.summary if plan else "", lifecycle_state=store.lifecycle_state(),
        versions=[p.version for p in store.plans()], tasks=ordered, levels=levels, progress=progress,
    )


def draft_from_tasks(tasks: list[Task]) -> dict[str, Any]:
    """The current tasks as the planner sees them when revising."""
    return {
        "tasks": [
            {"id": t.id, "type": t.type, "title": t.title, "description": t.description,
             "dependencies": t.dependencies, "priority": t.priority, "status": t.status,
             "estimated_complexity": t.estimated_complexity, "target_files": t.target_files,
             "verification": t.verification}
            for t in tasks
        ]
    }
