"""`plan generate|show|approve|revise`: PRD → task DAG, and its versions."""

from pathlib import Path

import typer

from runner.cli.context import get_app

app = typer.Typer()

PRD = typer.Argument(..., help="The PRD (Markdown or text).")


@app.command("generate")
def generate(
    ctx: typer.Context,
    prd: Path = PRD,
) -> None:
    """Plan the PRD into a validated task DAG (a new plan version; enters PLANNING)."""
    from runner.plan.versions import plan_view, read_prd
    from runner.state.session import command_session

    a = get_app(ctx)
    text = read_prd(prd)  # bad input (and a bad config, next) fails before anything in .codex/ is touched
    llm = a.config.llm
    root = a.repo_root()
    if a.dry_run:
        plan = {"prd": str(prd), "characters": len(text), "model": llm.model, "base_url": llm.base_url}
        a.emit({"dry_run": True, "plan": plan}, human=lambda: a.info(
            f"dry run: would send {len(text)} characters of {prd} to {llm.model} at {llm.base_url}"))
        return
    from runner.plan.planner import generate_plan

    with command_session(root, "plan.generate", command=f"plan generate {prd}", info=a.info) as s:
        plan = generate_plan(s.store, text, llm=llm, prd_path=str(prd), progress=a.info)
        view = plan_view(s.store, plan.version)
    a.info(f"plan v{plan.version} stored ({len(plan.task_ids)} tasks, {plan.attempts} attempt(s)); "
           "review with `codex-sandbox plan show`, then `plan approve`")
    a.emit(view, human=lambda: render_plan(a, view))


@app.command("show")
def show(
    ctx: typer.Context,
    version: int | None = typer.Option(None, "--version", help="Show this plan version (default: newest)."),
    table: bool = typer.Option(False, "--table", help="A flat table instead of the level tree."),
) -> None:
    """Show the plan's tasks by execution level, with their status."""
    from runner.plan.versions import plan_view
    from runner.state.session import command_session

    a = get_app(ctx)
    with command_session(a.repo_root(), "plan.show", command="plan show", mutates=False, info=a.info) as s:
        view = plan_view(s.store, version)
    a.emit(view, human=lambda: render_plan(a, view, table=table))


@app.command("approve")
def approve(ctx: typer.Context) -> None:
    """Approve the newest plan version (PLANNING → SCAFFOLDING)."""
    from runner.plan.versions import approve_plan, plan_view
    from runner.state.session import command_session

    a = get_app(ctx)
    with command_session(a.repo_root(), "plan.approve", command="plan approve", info=a.info) as s:
        if a.dry_run:
            version = s.store.plan().version
            a.emit({"dry_run": True, "plan": {"approve": version}},
                   human=lambda: a.info(f"dry run: would approve plan v{version}"))
            return
        plan = approve_plan(s.store)
        view = plan_view(s.store, plan.version)
    a.info(f"plan v{plan.version} approved; state SCAFFOLDING — next: `codex-sandbox scaffold`")
    a.emit(view, human=lambda: None)


@app.command("revise")
def revise(
    ctx: typer.Context,
    feedback: str = typer.Argument(..., help="What to change in the plan."),
) -> None:
    """Make a new plan version from the current one and your feedback (old versions are kept)."""
    from runner.errors import InvalidInput
    from runner.plan.versions import plan_view
    from runner.state.session import command_session

    a = get_app(ctx)
    if not feedback.strip():
        raise InvalidInput("revision feedback is empty")
    llm = a.config.llm
    with command_session(a.repo_root(), "plan.revise", command="plan revise", info=a.info) as s:
        if a.dry_run:
            version = s.store.plan().version
            a.emit({"dry_run": True, "plan": {"revise": version, "feedback": feedback}},
                   human=lambda: a.info(f"dry run: would revise plan v{version} with the feedback"))
            return
        from runner.plan.planner import revise_plan

        plan = revise_plan(s.store, feedback, llm=llm, progress=a.info)
        view = plan_view(s.store, plan.version)
    a.info(f"plan v{plan.version} stored (v{plan.version - 1} kept as superseded)")
    a.emit(view, human=lambda: render_plan(a, view))


MARKS = {"pending": " ", "running": "~", "completed": "x", "failed": "!", "blocked": "#", "skipped": "-"}


def render_plan(a, view, *, table: bool = False) -> None:
    """A level tree (or flat table) of the plan with status marks."""
    from rich.table import Table

    if view.version is None and not view.tasks:
        a.console.print(f"no plan yet (state {view.lifecycle_state}); run `codex-sandbox plan generate PRD.md`")
        return
    head = f"plan v{view.version} ({view.status})" if view.version else "ad-hoc tasks (no plan)"
    counts = ", ".join(f"{n} {s}" for s, n in sorted(view.progress.items()))
    a.console.print(f"{head} — state {view.lifecycle_state} — {counts}")
    if view.summary:
        a.console.print(view.summary)
    by_id = {t.id: t for t in view.tasks}
    if table or not view.levels:
        grid = Table(box=None, pad_edge=False)
        for col in ("id", "status", "type", "prio", "title", "depends on"):
            grid.add_column(col, no_wrap=col == "id", min_width=26 if col == "id" else None)
        for t in view.tasks:
            grid.add_row(t.id, t.status, t.type, str(t.priority), t.title, ", ".join(d[-8:] for d in t.dependencies))
        a.console.print(grid)
        return
    for n, level in enumerate(view.levels):
        a.console.print(f"level {n}")
        for tid in level:
            t = by_id[tid]
            deps = f"  ← {', '.join(d[-8:] for d in t.dependencies)}" if t.dependencies else ""
            a.console.print(f"  [{MARKS.get(t.status, '?')}] {t.id}  {t.type:<9} p{t.priority}  {t.title}{deps}",
                            markup=False)
