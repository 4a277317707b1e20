"""`codex-sandbox build next|task|all`: parse, compose the build environment, render results."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import typer

from runner.cli.context import get_app

app = typer.Typer(no_args_is_help=True)


def make_env(a, *, command: str = "build"):
    """Compose the pipeline's inputs at the edge: repo, config, the key from the environment, progress."""

    from runner.pipeline import BuildEnv

    config = a.config
    return BuildEnv(
        root=a.repo_root(),
        config=config,
        api_key=os.environ.get(config.llm.api_key_env) or None,
        progress=a.info,  # the consoles print task titles and model text without markup
        command=command,
    )


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (a CI cancel, `docker stop`) unwinds like Ctrl-C: container, gateway and worktree are cleaned up."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def render_result(a, result) -> None:
    """One result for humans: what happened, the commit, the gates, the tokens, where the run folder is."""
    def say(text: str) -> None:
        a.console.print(text, markup=False)  # titles, errors and findings come from the task and the model

    mark = "ok" if result.ok else "FAILED" if result.status != "blocked" else "BLOCKED"
    say(f"{mark}  task {result.task_id}  {result.title}")
    if result.ok:
        how = "fast-forward" if result.fast_forward else f"merge commit {str(result.merge_commit)[:12]}"
        say(f"  commit   {str(result.commit)[:12]} on {result.branch}, merged into {result.integration_branch} ({how})")
    else:
        say(f"  reason   {result.outcome}: {result.error}")
    if result.gate_decision:
        blocking = sum(1 for f in result.findings if f.get("blocking"))
        say(f"  gates    {result.gate_decision} ({len(result.findings)} finding(s), {blocking} blocking)")
        for f in result.findings[:10]:
            where = f"{f.get('file')}:{f.get('line')}" if f.get("line") else f.get("file")
            say(f"           {'BLOCK' if f.get('blocking') else 'warn '} {f.get('gate')}/{f.get('rule')} {where}")
    say(f"  tokens   {result.tokens_in} in, {result.tokens_out} out ({result.requests} model request(s))")
    say(f"  attempts {result.attempts}   run {result.run_id}")
    if result.manifest_path:
        say(f"  manifest {_rel(a, result.manifest_path)}")


def finish(a, result) -> None:
    """Emit the result and exit with its code (one error line on stderr when it failed)."""
    a.emit(result, human=lambda: render_result(a, result))
    if not result.ok:
        error_line(result.error)
        raise typer.Exit(result.exit_code or 1)


def error_line(message: str | None) -> None:
    """The one `error: ...` line on stderr (also with --json, whose stdout stays pure JSON)."""
    import sys

    sys.stderr.write("error: " + (" ".join(str(message or "failed").split())) + "\n")


def show_plan(a, plan: dict) -> None:
    """Render a --dry-run plan."""
    def human() -> None:
        for key, value in plan.items():
            if isinstance(value, list):
                a.console.print(f"{key}:", markup=False)
                for item in value:
                    a.console.print(f"  - {item}", markup=False)
            else:
                a.console.print(f"{key}: {value}", markup=False)

    a.emit(plan, human=human)


def _rel(a, path: str) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return path


@app.command("next")
def next_(ctx: typer.Context) -> None:
    """Build the next ready task: Codex in the sandbox, gates, commit, merge."""
    from runner.pipeline import build_next, describe_plan

    a = get_app(ctx)
    env = make_env(a, command="build next")
    if a.dry_run:
        return show_plan(a, describe_plan(env))
    with terminate_as_interrupt():
        result = build_next(env)
    if result is None:
        a.emit({"built": None, "message": "no task is ready"}, human=lambda: a.console.print("no task is ready"))
        return
    finish(a, result)


@app.command("task")
def task(ctx: typer.Context, task_id: str = typer.Argument(..., help="Task id (or a unique prefix).")) -> None:
    """Build one task by id."""
    from runner.pipeline import build_task, describe_plan

    a = get_app(ctx)
    env = make_env(a, command=f"build task {task_id}")
    if a.dry_run:
        return show_plan(a, describe_plan(env, task_ref=task_id))
    with terminate_as_interrupt():
        result = build_task(env, task_id)
    finish(a, result)


@app.command("all")
def all_(ctx: typer.Context) -> None:
    """Build ready tasks one after another until none is ready or one fails."""
    from runner.pipeline import build_all, describe_plan

    a = get_app(ctx)
    env = make_env(a, command="build all")
    if a.dry_run:
        return show_plan(a, describe_plan(env))
    with terminate_as_interrupt():
        results = build_all(env, on_result=None if a.json else lambda r: render_result(a, r))
    failed = next((r for r in results if not r.ok), None)
    if a.json:
        a.emit({"results": [r.model_dump(mode="json") for r in results]})
    elif not results:
        a.console.print("no task is ready")
    else:
        a.console.print(f"built {sum(r.ok for r in results)} task(s)" + (", then one failed" if failed else ""))
    if failed is not None:
        error_line(f"task {failed.task_id}: {failed.error}")
        raise typer.Exit(failed.exit_code or 1)
