"""`maintain upgrade|patch|refactor`: parse, call runner.ops.maintain, render."""

from __future__ import annotations

from typing import Optional

import typer

from runner.cli.context import get_app

app = typer.Typer(no_args_is_help=True)


def _add(ctx: typer.Context, kind: str, description: Optional[str]) -> None:
    from runner.ops.maintain import add_maintenance_task
    from runner.state.session import command_session

    a = get_app(ctx)
    root = a.repo_root()
    if a.dry_run:
        a.emit(
            {"dry_run": True, "would_add": {"type": kind, "description": description}},
            lambda: print(f"would add a {kind} task: {description or '(dependencies)'}"),
        )
        return
    with command_session(root, "maintain", command=f"maintain {kind}", info=a.info) as session:
        task = add_maintenance_task(session.store, root, kind, description)
        state = session.store.lifecycle_state()
    a.emit(
        {"task": task.model_dump(mode="json"), "lifecycle": state},
        lambda: print(
            f"added {kind} task {task.id}: {task.title}\nnext: codex-sandbox build next, "
            "then codex-sandbox verify run"
        ),
    )


@app.command("upgrade")
def upgrade(
    ctx: typer.Context,
    notes: Optional[str] = typer.Argument(None, help="Optional notes (e.g. which package)."),
) -> None:
    """Add a task that upgrades the dependencies in the sandbox (it must pass verify)."""
    _add(ctx, "upgrade", notes)


@app.command("patch")
def patch(ctx: typer.Context, description: str = typer.Argument(..., help="What to patch.")) -> None:
    """Add a patch task."""
    _add(ctx, "patch", description)


@app.command("refactor")
def refactor(ctx: typer.Context, description: str = typer.Argument(..., help="What to refactor.")) -> None:
    """Add a refactor task."""
    _add(ctx, "refactor", description)
