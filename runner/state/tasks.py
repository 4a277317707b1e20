"""Adding tasks by hand: build the Task from free text, resolve dependencies, keep the DAG valid."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pydantic import ValidationError

from runner.state import dag
from runner.errors import InvalidInput
from runner.state.models import TASK_TYPES, Task

if TYPE_CHECKING:
    from runner.state.store import Store

# A task id is a ULID: 26 characters of Crockford's base32 (no I, L, O, U), the first a digit 0-7.
# A word of that alphabet starting with such a digit is taken for an id (or its prefix), not for a title.
_ID_SHAPED = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{3,25}", re.IGNORECASE)
_SHOWN = 10


def id_shaped(ref: str) -> bool:
    """Whether `ref` looks like a task id or an id prefix (`run` treats anything else as free text)."""
    return bool(_ID_SHAPED.fullmatch(ref.strip()))


def matching_tasks(store: Store, ref: str) -> list[Task]:
    """The tasks `ref` names: its exact id, else the ids it starts with, else (4+ characters) ends with."""
    ref = ref.strip().upper()
    if not ref:
        return []
    tasks = store.list_tasks()
    for hits in ([t for t in tasks if t.id.upper() == ref],
                 [t for t in tasks if t.id.upper().startswith(ref)],
                 [t for t in tasks if len(ref) >= 4 and t.id.upper().endswith(ref)]):
        if hits:
            return hits
    return []


def resolve_task(store: Store, ref: str) -> Task:
    """The one task `ref` names (id, prefix or suffix); InvalidInput naming the reference, or the candidates."""
    hits = matching_tasks(store, ref)
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise InvalidInput(f"no task matches {ref.strip()!r}; `codex-sandbox task list` shows the ids")
    raise InvalidInput(ambiguous_message(ref, hits))


def ambiguous_message(ref: str, hits: list[Task]) -> str:
    """`ref` matches several tasks: say so and list them (id and title), so the user can pick one."""
    shown = "; ".join(f"{t.id} {t.title}" for t in hits[:_SHOWN])
    more = f"; and {len(hits) - _SHOWN} more" if len(hits) > _SHOWN else ""
    return f"task reference {ref.strip()!r} is ambiguous: it matches {len(hits)} tasks: {shown}{more}; give more of the id"


def make_task(
    text: str,
    *,
    target_files: list[str] = (),
    type_: str = "implement",
    priority: int = 5,
    verification: str | None = None,
) -> Task:
    """A pending task from free text (the first line, shortened, is the title)."""
    text = text.strip()
    if not text:
        raise InvalidInput("task text is empty")
    if type_ not in TASK_TYPES:
        raise InvalidInput(f"unknown task type {type_!r} (one of {', '.join(TASK_TYPES)})")
    for path in target_files:
        if path.startswith("/") or ".." in path.split("/"):
            raise InvalidInput(f"target file must be a path inside the repository: {path!r}")
    first = text.splitlines()[0].strip()
    title = first if len(first) <= 80 else first[:77] + "..."
    try:
        return Task(title=title, description=text, type=type_, priority=priority,
                    target_files=list(target_files), verification=verification)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InvalidInput(f"task {'.'.join(map(str, err['loc']))}: {err['msg']}") from None


def add_task(store: Store, task: Task, *, depends_on: list[str] = (), dry_run: bool = False) -> Task:
    """Resolve dependency ids (or prefixes), check the DAG stays valid, and store the task."""
    deps = []
    for ref in depends_on:
        dep = store.get_task(ref)
        if dep.status == "skipped":
            raise InvalidInput(f"task {dep.id} was superseded by a re-plan; depend on a current task")
        deps.append(dep.id)
    task = task.model_copy(update={"dependencies": list(dict.fromkeys(deps))})
    # A new task can only add edges out of itself, so it cannot close a cycle; check anyway.
    everything = store.list_tasks()
    dag.validate([*[t for t in everything if t.status != "skipped"], task],
                 known={t.id for t in everything if t.status == "skipped"})
    plan = store.plan()
    if plan is not None:
        task = task.model_copy(update={"plan_version": plan.version})  # part of the current plan from now on
    if dry_run:
        return task
    with store.transaction():
        store.add_task(task, actor="user", details={"plan_version": plan.version} if plan else {"adhoc": True})
        if plan is not None:
            store.append_plan_task(plan.version, task.id)
    return task
