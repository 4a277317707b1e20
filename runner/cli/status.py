"""`status`: lifecycle state, DAG progress, last run, tokens spent."""

import typer

from runner.cli.context import get_app


def status(ctx: typer.Context) -> None:
    """Show the lifecycle state, DAG progress, the last run and tokens spent."""
    from runner.state.session import command_session
    from runner.state.views import build_status

    a = get_app(ctx)
    with command_session(a.repo_root(), "status", command="status", mutates=False, info=a.info) as s:
        report = build_status(s.store)
    a.emit(report, human=lambda: render(a, report))


def render(a, r) -> None:
    out = a.console
    line = f"state      {r.state} since {r.entered_at[:19]}Z"
    if r.reason:
        line += f" ({r.reason})"
    out.print(line, markup=False)
    if r.timed_out:
        out.print(f"TIMED OUT  {r.timed_out['state']} idle {int(r.timed_out['idle_s'])} s > {r.timed_out['timeout_s']} s;"
                  " the next command moves the repo to FAILED", markup=False)
    plan = f"v{r.plan_version} ({r.plan_status})" if r.plan_version else "none (ad-hoc mode)"
    out.print(f"plan       {plan}", markup=False)
    p = r.progress
    counts = ", ".join(f"{n} {k}" for k, n in sorted(p.by_status.items())) or "no tasks"
    out.print(f"tasks      {p.total} ({counts}); {p.percent_complete}% complete", markup=False)
    if p.ready:
        out.print(f"next       {p.ready[0]}" + (f" (+{len(p.ready) - 1} more ready)" if len(p.ready) > 1 else ""))
    if p.blocked:
        out.print(f"blocked    {len(p.blocked)} task(s) wait on failed or dropped work: "
                  + ", ".join(f"{t[-8:]} ← {', '.join(d[-8:] for d in deps)}" for t, deps in list(p.blocked.items())[:3]),
                  markup=False)
    if r.last_run:
        lr = r.last_run
        out.print(f"last run   {lr.id} {lr.kind} {lr.status}" + (f" task {lr.task_id}" if lr.task_id else "")
                  + (f" at {(lr.finished_at or lr.started_at)[:19]}Z"), markup=False)
    if r.running:
        out.print(f"running    {', '.join(r.running)}")
    out.print(f"tokens     {r.tokens.input} in, {r.tokens.output} out")
    if r.lock:
        out.print(f"lock       held by pid {r.lock.get('pid')} (`{r.lock.get('command')}`)", markup=False)
