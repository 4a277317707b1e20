"""`codex-sandbox doctor`."""

from __future__ import annotations

from pathlib import Path

import typer

from runner.cli.context import get_app


def doctor(ctx: typer.Context) -> None:
    """Check the engine, images, seccomp, the tools the gates run (version, where found), git and disk space."""
    from runner.ops.doctor import run_checks
    from runner.config.policy import load_policy_config

    a = get_app(ctx)
    root = a.repo_root(required=False) or Path.cwd()
    checks = run_checks(root, a.config.sandbox.base_image, policy=load_policy_config(a.config.policies),
                        disk_cap=a.config.sandbox.limits.disk_cap)

    def human() -> None:
        for c in checks:
            mark = "FAIL" if not c.ok else ("--  " if c.tool and c.tool.path is None else "ok  ")
            line = f"{mark} {c.name:14} {c.detail}"
            if c.fix:
                line += f"  -> fix: {c.fix}"
            a.console.print(line, markup=False)

    a.emit({"ok": all(c.ok for c in checks), "checks": [c.model_dump() for c in checks]}, human=human)
    failed = [c.name for c in checks if not c.ok]
    if failed:
        from runner.errors import RunnerError

        raise RunnerError(f"doctor: {len(failed)} check(s) failed: {', '.join(failed)}")
