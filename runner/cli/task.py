"""`task add|list`: tasks by hand (ad-hoc without a plan) and the task table."""

import typer

from runner.cli.context import get_app

app = typer.Typer()

# Module-level: list defaults must not be built in the signature.
TARGET_FILE = typer.Option([], "--target-file", help="A file the task should touch (repeatable).")
DEPENDS_ON = typer.Option(
    [], "--depends-on", help="Id (or unique prefix/suffix) of a prerequisite task (repeatable)."
)


@app.command("add")
def add(
    ctx: typer.Context,
    text: str = typer.Argument(..., help="What to do, in free text (first line becomes the title)."),
    target_file: list[str] = TARGET_FILE,
    type_: str = typer.Option("implement", "--type", help="implement, test, fix, scaffold, refactor, upgrade or patch."),
    priority: int = typer.Option(5, "--priority", min=0, help="Lower runs first among ready tasks."),
    depends_on: list[str] = DEPENDS_ON,
    verification: str | None = typer.Option(None, "--verify", help="Command that proves the task is done."),
) -> None:
    """Add a task (without a plan it is ad-hoc work: recorded, no lifecycle move)."""
    from runner.state.session import command_session
    from runner.state.tasks import add_task, make_task
    from runner.state.views import TaskAdded

    a = get_app(ctx)
    task = make_task(text, target_files=target_file, type_=type_, priority=priority, verification=verification)
    with command_session(a.repo_root(), "task.add", command="task add", info=a.info) as s:
        task = add_task(s.store, task, depends_on=depends_on, dry_run=a.dry_run)
        out = TaskAdded(task=task, adhoc=s.adhoc, dry_run=a.dry_run)
    a.emit(out, human=lambda: a.console.print(
        f"{'would add' if a.dry_run else 'added'} task {task.id}: {task.title}"
        + (" (ad-hoc)" if out.adhoc else ""), markup=False))


@app.command("list")
def list_(
    ctx: typer.Context,
    status: str | None = typer.Option(None, "--status", help="Only tasks with this status."),
) -> None:
    """List tasks with status, type, priority and dependencies."""
    from runner.errors import InvalidInput
    from runner.state.models import TASK_STATUSES
    from runner.state.session import command_session
    from runner.state.views import TaskList

    a = get_app(ctx)
    if status is not None and status not in TASK_STATUSES:
        raise InvalidInput(f"unknown status {status!r} (one of {', '.join(TASK_STATUSES)})")
    with command_session(a.repo_root(), "task.list", command="task list", mutates=False, info=a.info) as s:
        out = TaskList(tasks=s.store.list_tasks(status=status))

    def human() -> None:
        if not out.tasks:
            a.console.print("no tasks")
            return
        a.table(("id", "status", "type", "prio", "tries", "title", "depends on"),
                [(t.id, t.status, t.type, t.priority, t.attempts, t.title, ", ".join(d[-8:] for d in t.dependencies))
                 for t in out.tasks], wrap=("title",))

    a.emit(out, human=human)
