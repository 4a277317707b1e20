"""`codex-sandbox demo`: one task end to end on the bundled sample repo with the offline demo model."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from runner.cli.context import get_app


def demo(
    ctx: typer.Context,
    workspace: Annotated[Path | None, typer.Option(
        "--workspace", help="Put the sample repo here (new or empty dir; default: a new temp dir, kept).",
    )] = None,
) -> None:
    """Run one task end to end on the sample repo with the OFFLINE DEMO MODEL (no key, no network)."""
    from runner.ops.demo import DEMO_TASK, run_demo

    a = get_app(ctx)
    if a.dry_run:
        plan = {
            "dry_run": True,
            "workspace": str(workspace) if workspace else "a new temp dir",
            "model": "OFFLINE DEMO MODEL: the scripted model server with runner/data/demo_script.json",
            "task": DEMO_TASK,
            "steps": ["copy the sample repo, git init", "build the codex image if missing",
                      "build next: Codex in the sandbox → gates → commit → merge", "show commit, gates, tokens"],
        }
        return a.emit(plan, human=lambda: [a.console.print(f"{k}: {v}", markup=False) for k, v in plan.items()])

    from runner.cli.build import terminate_as_interrupt

    with terminate_as_interrupt():
        out = run_demo(workspace.resolve() if workspace else None, progress=a.info,
                       docker_host=os.environ.get("DOCKER_HOST"))
    r = out.result
    data = {
        "workspace": str(out.workspace),
        "model": "offline demo model (scripted)",
        "result": r.model_dump(mode="json"),
        "commit_log": out.commit_log,
        "gates": out.gate_report,
    }
    a.emit(data, human=lambda: _render(a, out))
    if not r.ok:
        from runner.errors import CommandFailed

        raise CommandFailed(r.error or r.outcome, r.exit_code or 1)


def _render(a, out) -> None:
    from runner.cli.build import render_result

    c = a.console
    c.print("== codex-sandbox demo (OFFLINE DEMO MODEL: a recorded script, not a real model) ==", markup=False)
    render_result(a, out.result)
    if out.commit_log:
        c.print("\n== the commit (git log -1) ==", markup=False)
        c.print(out.commit_log, markup=False)
    if out.gate_report:
        c.print("\n== gate report ==", markup=False)
        c.print(f"decision: {out.gate_report.get('decision')}", markup=False)
        for gate, state in (out.gate_report.get("gates") or {}).items():
            c.print(f"  {gate}: {state}", markup=False)
    c.print(f"\n== tokens ==\n{out.result.tokens_in} in, {out.result.tokens_out} out"
            f" over {out.result.requests} model request(s)", markup=False)
    c.print(f"\nthe sample repo stays at {out.workspace}  (try: git -C {out.workspace} log --oneline)", markup=False)
