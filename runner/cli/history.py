"""`history`: the audit log, filtered by event type, task and time."""


import typer

from runner.cli.context import get_app


def history(
    ctx: typer.Context,
    type_: str | None = typer.Option(None, "--type", help="Event name or dotted prefix (e.g. plan, task.added)."),
    task: str | None = typer.Option(None, "--task", help="Only events of this task (id or unique prefix)."),
    since: str | None = typer.Option(None, "--since", help="ISO date/time, or an age like 30m, 2h, 1d."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Only the newest N events."),
) -> None:
    """Show the audit log (oldest first)."""
    from runner.state.audit_query import parse_since
    from runner.state.session import command_session
    from runner.state.views import History

    a = get_app(ctx)
    cutoff = parse_since(since) if since else None
    with command_session(a.repo_root(), "history", command="history", mutates=False, info=a.info) as s:
        task_id = s.store.get_task(task).id if task else None
        out = History(events=s.store.audit_events(type_, task_id, cutoff, limit=limit))

    def human() -> None:
        if not out.events:
            a.console.print("no events")
        for e in out.events:
            bits = " ".join(f"{k}={_short(v)}" for k, v in e.details.items() if v not in (None, "", [], {}))
            who = f" task={e.task_id}" if e.task_id else ""
            run = f" run={e.run_id}" if e.run_id else ""
            a.console.print(f"{e.ts[:19]}Z  {e.event:<22} {e.actor:<6}{who}{run}  {bits}", markup=False)

    a.emit(out, human=human)


def _short(value, limit: int = 80) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
