"""`codex-sandbox run "<task id or free text>"`: one task through the full pipeline (what `make run` calls)."""

from __future__ import annotations

import typer

from runner.cli.context import get_app


def run(
    ctx: typer.Context,
    task: str = typer.Argument(
        ..., help="An existing task id (or a unique prefix), or free text that becomes an ad-hoc task."
    ),
) -> None:
    """Build one task: an existing id is built; free text becomes an ad-hoc task, then is built.

    A reference shaped like a task id that matches no task is an error (exit 2), not a task title.
    """
    from runner.cli.build import finish, make_env, show_plan, working
    from runner.build.commands import describe_plan, run_one

    a = get_app(ctx)
    env = make_env(a, command="run")
    if a.dry_run:
        return show_plan(a, describe_plan(env, task_ref=task, adhoc=True))
    with working(a, env, "starting the build"):
        result = run_one(env, task)
    finish(a, result)
