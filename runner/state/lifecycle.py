"""The lifecycle state machine: states, TRANSITIONS, guards, timeouts, checkpoints, and `require`.

Ad-hoc mode: while no plan exists (and the repo is IDLE), ad-hoc actions (`task add`, `build`, `run`,
standalone `verify run`) are allowed; they record runs and audit events but move no lifecycle state.
Once a plan exists, every action needs one of its allowed states. Read-only actions work in every state.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from runner.errors import StateError

if TYPE_CHECKING:
    from runner.state.store import Store

STATES = (
    "IDLE", "PLANNING", "SCAFFOLDING", "BUILDING", "VERIFYING",
    "DEPLOYING", "OBSERVING", "MAINTAINING", "FAILED",
)

TRANSITIONS: dict[str, frozenset[str]] = {
    "IDLE": frozenset({"PLANNING"}),
    "PLANNING": frozenset({"SCAFFOLDING", "PLANNING", "FAILED", "IDLE"}),
    "SCAFFOLDING": frozenset({"BUILDING", "FAILED"}),
    "BUILDING": frozenset({"VERIFYING", "FAILED"}),
    "VERIFYING": frozenset({"DEPLOYING", "BUILDING", "FAILED"}),
    "DEPLOYING": frozenset({"OBSERVING", "BUILDING", "FAILED"}),
    "OBSERVING": frozenset({"MAINTAINING", "DEPLOYING", "IDLE"}),
    "MAINTAINING": frozenset({"BUILDING", "VERIFYING", "FAILED", "IDLE"}),
    "FAILED": frozenset({"IDLE"}),
}

# Seconds a state may be held without activity before it counts as timed out (None: no limit).
TIMEOUTS: dict[str, int | None] = {
    "PLANNING": 600, "SCAFFOLDING": 1800, "BUILDING": 7200, "VERIFYING": 1800, "DEPLOYING": 900,
}

_NOT_FAILED = frozenset(s for s in STATES if s != "FAILED")

READ_ONLY = frozenset({
    "status", "history", "plan.show", "config.show", "config.validate", "policy.check", "doctor",
    "task.list", "observe.status", "observe.logs", "observe.metrics", "verify.report", "sandbox.ps",
    "images.list", "secrets.list",
})

# Not lifecycle work at all (configuration, local tooling): allowed in every state, FAILED included.
# `deploy rollback` is operational recovery: it must work in every state (MAINTAINING, FAILED too).
UNGATED = frozenset({"config.set", "secrets.set", "secrets.rm", "images.build", "sandbox.gc", "sandbox.run", "demo",
                     "deploy.rollback"})

# action -> (states allowed once a plan exists, allowed ad hoc without a plan)
ACTIONS: dict[str, tuple[frozenset[str], bool]] = {
    "init": (_NOT_FAILED, True),
    "plan.generate": (frozenset({"IDLE", "PLANNING"}), False),
    "plan.revise": (frozenset({"PLANNING"}), False),
    "plan.approve": (frozenset({"PLANNING"}), False),
    "scaffold": (frozenset({"SCAFFOLDING"}), False),
    "task.add": (_NOT_FAILED, True),
    "build": (frozenset({"BUILDING", "MAINTAINING"}), True),
    "run": (frozenset({"BUILDING", "MAINTAINING"}), True),
    "verify.run": (frozenset({"BUILDING", "VERIFYING", "MAINTAINING"}), True),
    "verify.fix": (frozenset({"VERIFYING"}), False),
    "deploy": (frozenset({"VERIFYING", "DEPLOYING", "OBSERVING"}), False),
    "maintain": (frozenset({"OBSERVING", "MAINTAINING"}), True),
    "reset": (frozenset({"FAILED"}), False),
}

REMEDY: dict[str, str] = {
    "IDLE": "start with `codex-sandbox plan generate PRD.md`",
    "PLANNING": "approve the plan with `codex-sandbox plan approve` (or revise it)",
    "SCAFFOLDING": "run `codex-sandbox scaffold`",
    "BUILDING": "build with `codex-sandbox build next|all`, then `codex-sandbox verify run`",
    "VERIFYING": "run `codex-sandbox verify run` (or `verify fix`), then deploy",
    "DEPLOYING": "finish with `codex-sandbox deploy staging|prod`",
    "OBSERVING": "watch with `codex-sandbox observe status`, or start `codex-sandbox maintain ...`",
    "MAINTAINING": "build the maintenance tasks with `codex-sandbox build next`",
    "FAILED": "inspect `codex-sandbox history`, then `codex-sandbox reset`",
}

Mode = Literal["readonly", "ungated", "adhoc", "lifecycle"]


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts)


def _lookup(action: str) -> tuple[frozenset[str], bool]:
    if action in ACTIONS:
        return ACTIONS[action]
    head = action.split(".", 1)[0]
    if head in ACTIONS:
        return ACTIONS[head]
    raise ValueError(f"unknown lifecycle action {action!r}")


def timeout_status(store: Store, now: datetime | None = None) -> dict[str, Any] | None:
    """If the current state is held past its timeout, the facts (state, limit, idle seconds); else None.

    The clock runs from the later of entering the state and the newest audit event, so a long
    `build all` that keeps finishing tasks is not cut off; a stuck state is.
    """
    info = store.lifecycle()
    limit = TIMEOUTS.get(info.state)
    if not limit:
        return None
    now = now or datetime.now(UTC)
    marks = [info.entered_at]
    last = store.last_activity()
    if last:
        marks.append(last)
    since = max(_parse(m) for m in marks)
    idle = (now - since).total_seconds()
    if idle <= limit:
        return None
    return {"state": info.state, "timeout_s": limit, "idle_s": round(idle, 1), "since": since.isoformat()}


def enforce_timeout(store: Store, now: datetime | None = None) -> str | None:
    """Move a timed-out state to FAILED (the next command after the timeout does this); say what happened."""
    expired = timeout_status(store, now)
    if expired is None:
        return None
    reason = f"{expired['state']} timed out: no progress for {int(expired['idle_s'])} s (limit {expired['timeout_s']} s)"
    transition(store, "FAILED", reason=reason)
    return reason


def require(store: Store, action: str, *, now: datetime | None = None) -> Mode:
    """Allow `action` in the current state or raise StateError naming the state and the remedy.

    Returns how it is allowed: readonly, ungated, adhoc (no plan; no lifecycle move) or lifecycle.
    """
    if action in READ_ONLY:
        return "readonly"
    if action in UNGATED:
        return "ungated"
    allowed, adhoc_ok = _lookup(action)
    expired = enforce_timeout(store, now)
    state = store.lifecycle_state()
    label = action.replace(".", " ")
    if expired:
        raise StateError(f"`{label}` refused: {expired}; the repo is now FAILED — {REMEDY['FAILED']}")
    if state in allowed and (state != "IDLE" or store.has_plan() or not adhoc_ok):
        return "lifecycle"
    if adhoc_ok and not store.has_plan() and state != "FAILED":
        return "adhoc"
    if state in allowed:
        return "lifecycle"
    where = ", ".join(s for s in STATES if s in allowed) or "no state"
    raise StateError(
        f"`{label}` is not allowed in state {state} (allowed in {where}); {REMEDY[state]}"
    )


# -- guards: facts that must hold before entering a state ------------------------------------------------


def _guard_scaffolding(store: Store, context: dict[str, Any]) -> str | None:
    plan = store.plan()
    if plan is None or plan.status != "approved":
        return "SCAFFOLDING needs an approved plan (`codex-sandbox plan approve`)"
    return None


def _guard_deploying(store: Store, context: dict[str, Any]) -> str | None:
    runs = [r for r in store.list_runs(kind="verify") if r.status != "running"]
    if not runs or runs[-1].status != "succeeded":
        return "DEPLOYING needs a passing `codex-sandbox verify run` first"
    commit = context.get("commit")
    if commit and runs[-1].commit and runs[-1].commit != commit:
        return (
            f"DEPLOYING needs a passing verify of the current commit {commit[:12]} "
            f"(last verified {runs[-1].commit[:12]}); run `codex-sandbox verify run`"
        )
    return None


def _guard_planning(store: Store, context: dict[str, Any]) -> str | None:
    if store.plan() is None:
        return "PLANNING needs a plan version (`codex-sandbox plan generate PRD.md`)"
    return None


GUARDS = {"SCAFFOLDING": _guard_scaffolding, "DEPLOYING": _guard_deploying, "PLANNING": _guard_planning}


def can_transition(store: Store, to: str, context: dict[str, Any] | None = None) -> str | None:
    """None if `to` may be entered now, else the reason it may not."""
    current = store.lifecycle_state()
    if to not in STATES:
        return f"unknown lifecycle state {to!r}"
    if to not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current]))
        return f"cannot go from {current} to {to} (from {current}: {allowed})"
    # Failing and resetting are always possible when the table allows them.
    if to in ("FAILED", "IDLE"):
        return None
    guard = GUARDS.get(to)
    return guard(store, context or {}) if guard else None


def transition(store: Store, to: str, *, reason: str, context: dict[str, Any] | None = None) -> int:
    """Move to `to` if TRANSITIONS and the guards allow it; checkpoint and audit in one transaction.

    Returns the checkpoint id; raises StateError (exit 5) otherwise, changing nothing.
    """
    with store.transaction():
        current = store.lifecycle_state()
        problem = can_transition(store, to, context)
        if problem:
            raise StateError(problem)
        checkpoint_id = _checkpoint(store, current, to, reason)
        store.set_lifecycle_state(to, reason)
        store.audit(
            "lifecycle.transition", details={"from": current, "to": to, "reason": reason, "checkpoint": checkpoint_id}
        )
    return checkpoint_id


def _checkpoint(store: Store, from_state: str, to_state: str, reason: str) -> int:
    """Snapshot the plan and task states into the checkpoints table and .codex/checkpoints/<ts>.json."""
    from runner.fsutil import atomic_write
    from runner.state.models import utcnow
    from runner.state.store import state_dir

    plan = store.plan()
    ts = utcnow()
    snapshot = {
        "ts": ts,
        "from": from_state,
        "to": to_state,
        "reason": reason,
        "plan_version": plan.version if plan else None,
        "plan_status": plan.status if plan else None,
        "tasks": [
            {"id": t.id, "status": t.status, "attempts": t.attempts, "commit": t.commit}
            for t in store.list_tasks()
        ],
    }
    stamp = ts.replace("+00:00", "Z").replace(":", "").replace("-", "")
    path = state_dir(store.root) / "checkpoints" / f"{stamp}.json"
    # File first: a crash before COMMIT leaves an unreferenced file, never a row pointing at nothing.
    atomic_write(path, json.dumps(snapshot, indent=2, sort_keys=True) + "\n")
    rel = str(path.relative_to(store.root))
    return store.add_checkpoint(from_state, to_state, reason, rel, snapshot)
