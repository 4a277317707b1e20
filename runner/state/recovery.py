"""Crash recovery on start: runs left `running` by a dead process become interrupted, their
containers and worktrees are reaped, and their tasks go back to `pending` with the attempt counted."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runner.state.store import Store


def dead_runs(store: Store) -> list:
    """Runs marked running whose owner process is gone (or whose pid now belongs to someone else)."""
    from runner.state.lock import holder_if_locked
    from sandbox.procutil import pid_alive

    holder = holder_if_locked(store.root) or {}
    dead = []
    for run in store.list_runs(status="running"):
        if run.pid == os.getpid():
            continue  # ours, in progress
        if pid_alive(run.pid, run.started_at):
            continue
        # A run whose pid is gone is dead even if a new orchestrator now holds the lock.
        if holder.get("pid") == run.pid and pid_alive(run.pid):
            continue
        dead.append(run)
    return dead


def recover(root: Path, store: Store, *, reap: bool = True) -> str | None:
    """Recover what a dead process left behind; return one line saying what, or None if nothing.

    An interrupted branch move is settled first (forward or back), so that a task whose merge had
    reached the branch is found landed by the next build and not built again.
    """
    from sandbox.git.branch_move import recover_moves

    moves = "; ".join(recover_moves(root))
    dead = dead_runs(store)
    if not dead:
        return moves or None
    tasks_back: list[str] = []
    with store.transaction():
        for run in dead:
            store.finish_run(
                run.id,
                event="run.interrupted",
                status="interrupted",
                error=f"orchestrator pid {run.pid} died while the run was in progress",
                details={"recovered_by": os.getpid()},
            )
            if not run.task_id:
                continue
            task = store.find_task(run.task_id)
            if task is None or task.status != "running":
                continue
            # Count the interrupted attempt whether or not the dead process counted it at start.
            attempts = max(task.attempts, len([r for r in store.list_runs(task_id=task.id) if r.kind == run.kind]))
            store.update_task(
                task.id,
                event="task.recovered",
                status="pending",
                attempts=attempts,
                last_error=f"run {run.id} interrupted (orchestrator pid {run.pid} died)",
                details={"run_id": run.id},
            )
            tasks_back.append(task.id)
    reaped = _reap(root) if reap else ""
    line = (moves + "; " if moves else "") + f"recovered {len(dead)} interrupted run{'s' if len(dead) != 1 else ''}"
    if tasks_back:
        line += f"; task{'s' if len(tasks_back) != 1 else ''} {', '.join(t[-8:] for t in tasks_back)} back to pending"
    return line + reaped


def _reap(root: Path) -> str:
    """Remove the dead runs' containers and worktrees with the sandbox's reaper (`sandbox.gc.reap`)."""
    try:
        from sandbox.gc import reap
    except ImportError:
        return "; sandbox gc unavailable, nothing reaped"
    try:
        report = reap(Path(root))
    except Exception as exc:  # noqa: BLE001 — the engine may be down; recovering the store must still succeed
        return f"; could not reap containers/worktrees ({type(exc).__name__}: {str(exc)[:80]})"
    containers = len(getattr(report, "containers", []) or [])
    worktrees = len(getattr(report, "worktrees", []) or [])
    if not containers and not worktrees:
        return ""
    return f"; reaped {containers} container{'s' if containers != 1 else ''}, {worktrees} worktree{'s' if worktrees != 1 else ''}"
