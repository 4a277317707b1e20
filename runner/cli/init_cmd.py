"""`codex-sandbox init`."""

from __future__ import annotations

import typer

from runner.cli.context import get_app


def init(ctx: typer.Context) -> None:
    """Create .codex/ with a commented config.yaml and keep it out of git (safe to run twice)."""
    from runner.ops.init_repo import init_repo

    a = get_app(ctx)
    report = init_repo(a.repo_root(), dry_run=a.dry_run)
    would = "would create" if a.dry_run else "created"

    def human() -> None:
        for path in report.created:
            a.console.print(f"{would} {path}", markup=False)
        if report.excluded:
            a.console.print(f"{'would add' if a.dry_run else 'added'} .codex/ to .git/info/exclude", markup=False)
        if not report.created and not report.excluded:
            a.console.print("already initialised", markup=False)

    a.emit(report, human=human)
