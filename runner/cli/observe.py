"""`observe status|logs|metrics`: parse, call runner.ops.observe / runner.ops.metrics, render."""

from __future__ import annotations

import time

import typer

from runner.cli.context import get_app

app = typer.Typer(no_args_is_help=True)


@app.command("status")
def status(
    ctx: typer.Context,
    env: str | None = typer.Argument(None, help="One environment (default: all configured)."),
) -> None:
    """Health, uptime, restarts and deployed commit per environment; a failing one proposes a patch task."""
    from runner.errors import StateError
    from runner.ops.observe import environment_statuses, issue_of, react, render_status, repo_provider
    from runner.state.session import command_session

    a = get_app(ctx)
    root = a.repo_root()
    cfg = a.config.deploy
    provider = repo_provider(root, cfg)
    envs = [env] if env else list(cfg.environments)
    for name in envs:
        provider.env_config(name)
    statuses = environment_statuses(provider, envs)
    issues: list[dict] = []
    if not a.dry_run and any(issue_of(s) for s in statuses):
        # Reacting adds a task and moves the lifecycle: under the repo lock, like every mutating command.
        # A busy repo does not hang a status command: the issue is shown, and recorded on the next run.
        try:
            with command_session(root, "observe.status", command="observe status", info=a.info) as session:
                issues = react(session.store, statuses)
        except StateError as exc:
            a.info(f"issue not recorded: {exc}")
            issues = [{"env": s.env, "issue": why, "commit": s.commit, "task": None}
                      for s in statuses if (why := issue_of(s))]  # fmt: skip
    data = {"environments": [s.model_dump(mode="json") for s in statuses], "issues": issues}

    def human() -> None:
        for line in render_status(statuses):
            print(line)
        for issue in issues:
            print(f"issue: {issue['issue']}" + (f" → patch task {issue['task']}" if issue["task"] else ""))

    a.emit(data, human)
    if issues:
        from runner.errors import CommandFailed

        raise CommandFailed("; ".join(f"{i['env']}: {i['issue']}" for i in issues))


@app.command("logs")
def logs(
    ctx: typer.Context,
    env: str = typer.Argument("staging", help="Environment."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep streaming new lines."),
    tail: int = typer.Option(200, "--tail", help="Lines of history to show first."),
) -> None:
    """The deployed app's log lines."""
    from runner.ops.observe import repo_provider

    a = get_app(ctx)
    if a.json and follow:
        from runner.errors import InvalidInput

        raise InvalidInput("--follow streams lines until stopped and has no JSON form: drop --json or --follow")
    provider = repo_provider(a.repo_root(), a.config.deploy)
    provider.env_config(env)
    lines = provider.logs(env, follow=follow, tail=tail)
    if a.json and not follow:
        a.emit({"env": env, "lines": list(lines)})
        return
    try:
        for line in lines:
            print(line, flush=True)
    except KeyboardInterrupt:
        pass


@app.command("metrics")
def metrics(
    ctx: typer.Context,
    serve: int | None = typer.Option(None, "--serve", help="Serve /metrics on this port (127.0.0.1)."),
    addr: str = typer.Option("127.0.0.1", "--addr", help="Address to bind with --serve."),
) -> None:
    """The metrics in the Prometheus text format (--json: the same families as JSON; --serve: for scraping)."""
    from runner.ops.metrics import as_json, render
    from runner.ops.metrics import serve as serve_metrics
    from runner.state.store import Store

    a = get_app(ctx)
    if serve is not None and a.json:
        from runner.errors import InvalidInput

        raise InvalidInput("--serve runs until stopped and has no JSON form: drop --json or --serve")
    root = a.repo_root()
    with Store.open(root) as store:
        if serve is None:
            if a.json:
                a.emit(as_json(store))
            else:
                print(render(store), end="")
            return
        server, _thread = serve_metrics(store, serve, addr)
        a.info(f"serving metrics on http://{addr}:{server.server_port}/metrics (Ctrl-C to stop)")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            server.shutdown()
