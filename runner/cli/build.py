"""`codex-sandbox build next|task|all`: parse, compose the build environment, render results."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer

from runner.cli.context import get_app

if TYPE_CHECKING:
    from runner.policy.models import Finding

app = typer.Typer(no_args_is_help=True)


def make_env(a, *, command: str = "build"):
    """Compose the pipeline's inputs at the edge: repo, config, the key from the environment, progress."""

    from runner.build.commands import BuildEnv

    config = a.config
    return BuildEnv(
        root=a.repo_root(),
        config=config,
        api_key=os.environ.get(config.llm.api_key_env) or None,
        docker_host=os.environ.get("DOCKER_HOST"),  # the engine the Docker client talks to
        progress=a.info,  # the consoles print task titles and model text without markup
        command=command,
    )


@contextmanager
def working(a, env, first_step: str) -> Iterator:
    """While the build runs: SIGTERM unwinds like Ctrl-C, and on a terminal a live status shows the step."""
    from runner.cli.progress import for_app

    with terminate_as_interrupt(), for_app(a, first_step) as act:
        env.progress = act.note
        yield act


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
        kept = " (the kept commit; no model call)" if result.outcome == "merged_kept_commit" else ""
        say(f"  commit   {str(result.commit)[:12]} on {result.branch}, merged into {result.integration_branch} "
            f"({how}){kept}")
    else:
        if result.commit and not result.merge_commit:
            say(f"  commit   {str(result.commit)[:12]} kept on {result.branch}, not merged")
        say(f"  reason   {result.outcome}: {result.error}")
    if result.gate_decision:
        say(f"  gates    {result.gate_decision} ({finding_counts(result.findings)})")
        for f in result.findings[:10]:
            where = f"{f.file}:{f.line}" if f.line else f.file
            say(f"           {finding_label(f):<12} {f.gate}/{f.rule} {where}")
        if len(result.findings) > 10:
            say(f"           ... {len(result.findings) - 10} more in {_rel(a, result.run_dir or '')}/gates.json")
    say(f"  tokens   {result.tokens_in} in, {result.tokens_out} out ({result.requests} model request(s))")
    say(f"  attempts {result.attempts}   run {result.run_id}")
    if result.manifest_path:
        say(f"  manifest {_rel(a, result.manifest_path)}")


def finding_label(f: Finding) -> str:
    """BLOCK, overridden, pre-existing (already there before the change: not the model's) or warn."""
    if f.overridden:
        return "overridden"
    if f.blocking:
        return "BLOCK"
    return "pre-existing" if f.pre_existing else "warn"


def finding_counts(findings: list[Finding]) -> str:
    """'3 finding(s): 1 blocking, 1 new, 1 pre-existing' — what the change added kept apart from what it found."""
    labels = [finding_label(f) for f in findings]
    parts = [f"{labels.count(k)} {name}" for k, name in
             (("BLOCK", "blocking"), ("warn", "new"), ("pre-existing", "pre-existing"), ("overridden", "overridden"))
             if labels.count(k)]
    return f"{len(findings)} finding(s)" + (": " + ", ".join(parts) if parts else "")


def finish(a, result) -> None:
    """Emit the result and exit with its code (one error line on stderr when it failed)."""
    a.emit(result, human=lambda: render_result(a, result))
    if not result.ok:
        from runner.errors import CommandFailed

        # main prints the one `error: ...` line (and puts it into the JSON document under --json)
        raise CommandFailed(result.error or result.outcome, result.exit_code or 1)


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
    from runner.build.commands import build_next, describe_plan

    a = get_app(ctx)
    env = make_env(a, command="build next")
    if a.dry_run:
        return show_plan(a, describe_plan(env))
    with working(a, env, "looking for the next ready task"):
        result = build_next(env)
    if result is None:
        a.emit({"built": None, "message": "no task is ready"}, human=lambda: a.console.print("no task is ready"))
        return
    finish(a, result)


@app.command("task")
def task(ctx: typer.Context, task_id: str = typer.Argument(..., help="Task id (or a unique prefix or suffix).")) -> None:
    """Build one task by id; a task whose commit is kept from a refused merge is merged, not built again."""
    from runner.build.commands import build_task, describe_plan

    a = get_app(ctx)
    env = make_env(a, command=f"build task {task_id}")
    if a.dry_run:
        return show_plan(a, describe_plan(env, task_ref=task_id))
    with working(a, env, f"building task {task_id}"):
        result = build_task(env, task_id)
    finish(a, result)


@app.command("all")
def all_(ctx: typer.Context) -> None:
    """Build ready tasks one after another until none is ready or one fails."""
    from runner.build.commands import build_all, describe_plan

    a = get_app(ctx)
    env = make_env(a, command="build all")
    if a.dry_run:
        return show_plan(a, describe_plan(env))
    def show(result) -> None:
        with act.paused():
            render_result(a, result)

    with working(a, env, "looking for ready tasks") as act:
        results = build_all(env, on_result=None if a.json else show)
    failed = next((r for r in results if not r.ok), None)
    if a.json:
        a.emit({"results": [r.model_dump(mode="json") for r in results]})
    elif not results:
        a.console.print("no task is ready")
    else:
        a.console.print(f"built {sum(r.ok for r in results)} task(s)" + (", then one failed" if failed else ""))
    if failed is not None:
        from runner.errors import CommandFailed

        raise CommandFailed(f"task {failed.task_id}: {failed.error}", failed.exit_code or 1)
