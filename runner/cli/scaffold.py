"""`codex-sandbox scaffold`: build the plan's scaffold task (lifecycle SCAFFOLDING), then move to BUILDING."""

from __future__ import annotations

import typer

from runner.cli.context import get_app


def scaffold(ctx: typer.Context) -> None:
    """Run the scaffold task through the build pipeline; needs the lifecycle in SCAFFOLDING."""
    from runner.cli.build import finish, make_env, show_plan, working
    from runner.build.commands import build_scaffold, describe_plan

    a = get_app(ctx)
    env = make_env(a, command="scaffold")
    if a.dry_run:
        return show_plan(a, describe_plan(env, action="scaffold"))
    with working(a, env, "scaffolding"):
        result = build_scaffold(env)
    finish(a, result)
