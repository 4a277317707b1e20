"""The --json outputs of the lifecycle commands, as pydantic models (their JSON schemas are published
in docs/json-schemas/), and the builders that fill them from the store."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from runner.state.models import AuditEvent, Run, Task

if TYPE_CHECKING:
    from runner.state.store import Store


class View(BaseModel):
    model_config = ConfigDict(defer_build=True)


class TaskList(View):
    """`task list --json`."""

    tasks: list[Task] = Field(..., description="Tasks in creation order.")


class TaskAdded(View):
    """`task add --json`."""

    task: Task = Field(..., description="The task added.")
    adhoc: bool = Field(..., description="True when added outside a plan (ad-hoc mode).")
    dry_run: bool = Field(False, description="True when nothing was stored (--dry-run).")


class Progress(View):
    """DAG progress."""

    total: int = Field(..., description="Tasks counted (skipped ones excluded).")
    by_status: dict[str, int] = Field(..., description="Task count per status.")
    ready: list[str] = Field(..., description="Ids of tasks ready to build, in the order `build next` takes them.")
    percent_complete: float = Field(..., description="Completed over total, 0-100.")
    blocked: dict[str, list[str]] = Field(
        default_factory=dict, description="Pending tasks that cannot run: id -> failed/skipped dependencies."
    )


class TokenTotals(View):
    input: int = Field(..., description="Input tokens spent (runs and planner).")
    output: int = Field(..., description="Output tokens spent (runs and planner).")


class StatusReport(View):
    """`status --json`."""

    repo: str = Field(..., description="Repository root.")
    state: str = Field(..., description="Lifecycle state.")
    entered_at: str = Field(..., description="When the state was entered (ISO-8601 UTC).")
    reason: str = Field("", description="Why the last transition happened.")
    timed_out: dict[str, Any] | None = Field(None, description="Set when the state is held past its timeout.")
    mode: str = Field(..., description="adhoc (no plan yet) or lifecycle.")
    plan_version: int | None = Field(None, description="Newest plan version.")
    plan_status: str | None = Field(None, description="Its status.")
    progress: Progress = Field(..., description="DAG progress.")
    last_run: Run | None = Field(None, description="The most recent run.")
    running: list[str] = Field(default_factory=list, description="Ids of runs in progress.")
    tokens: TokenTotals = Field(..., description="Tokens spent.")
    lock: dict[str, Any] | None = Field(None, description="Holder of the repo lock, if held.")


class History(View):
    """`history --json`."""

    events: list[AuditEvent] = Field(..., description="Audit events, oldest first.")


class ConfigValue(View):
    value: Any = Field(None, description="Effective value.")
    source: str = Field(..., description="default, a config file path, env or flag.")


class ConfigShow(View):
    """`config show --json`."""

    values: dict[str, ConfigValue] = Field(..., description="Every dotted key with its value and source.")


class ConfigValidation(View):
    """`config validate --json` (an invalid config exits 2 with the error object instead)."""

    valid: bool = Field(..., description="Always true when printed.")
    files: list[str] = Field(..., description="Config files read, lowest layer first.")


class ConfigSet(View):
    """`config set --json`."""

    key: str = Field(..., description="Dotted key.")
    value: Any = Field(None, description="New value as stored.")
    file: str = Field(..., description="File written.")
    dry_run: bool = Field(False, description="True when nothing was written.")


class ResetResult(View):
    """`reset --json`."""

    from_state: str = Field(..., description="State left.")
    state: str = Field(..., description="State now (IDLE).")
    checkpoint: int | None = Field(None, description="Checkpoint id of the transition.")


class ErrorOutput(View):
    """What any command prints on stdout with --json when it fails."""

    class Inner(View):
        message: str = Field(..., description="One line.")
        exit_code: int = Field(..., description="The seed's exit code.")

    error: Inner


def build_status(store: Store) -> StatusReport:
    """Fill the status report from the store (read-only).

    Raw queries and model_construct: `status` must start fast, and building pydantic validators
    for models it only reads would cost more than the queries.
    """
    import json
    from types import SimpleNamespace

    from runner.state import dag, lifecycle
    from runner.state.lock import holder_if_locked

    db = store.db
    info = store.lifecycle()
    plan = db.execute("SELECT version, status FROM plans ORDER BY version DESC LIMIT 1").fetchone()
    nodes = [
        SimpleNamespace(id=r[0], dependencies=json.loads(r[1] or "[]"), status=r[2], priority=r[3])
        for r in db.execute("SELECT id, dependencies, status, priority FROM tasks WHERE status != 'skipped'")
    ]
    counts: dict[str, int] = {}
    for t in nodes:
        counts[t.status] = counts.get(t.status, 0) + 1
    done = counts.get("completed", 0)
    tokens_in, tokens_out = store.tokens_spent()
    row = db.execute("SELECT * FROM runs ORDER BY started_at DESC, id DESC LIMIT 1").fetchone()
    last_run = None
    if row is not None:
        data = dict(row)
        data["commit"] = data.pop("commit_sha")
        data["details"] = json.loads(data["details"] or "{}")
        last_run = Run.model_construct(**data)
    return StatusReport.model_construct(
        repo=str(store.root),
        state=info.state,
        entered_at=info.entered_at,
        reason=info.reason,
        timed_out=lifecycle.timeout_status(store),
        mode="lifecycle" if plan else "adhoc",
        plan_version=plan[0] if plan else None,
        plan_status=plan[1] if plan else None,
        progress=Progress.model_construct(
            total=len(nodes), by_status=counts, ready=[t.id for t in dag.ready(nodes)],
            percent_complete=round(100.0 * done / len(nodes), 1) if nodes else 0.0,
            blocked=dag.blocked_by(nodes),
        ),
        last_run=last_run,
        running=[r[0] for r in db.execute("SELECT id FROM runs WHERE status = 'running' ORDER BY started_at")],
        tokens=TokenTotals.model_construct(input=tokens_in, output=tokens_out),
        lock=holder_if_locked(store.root),
    )
