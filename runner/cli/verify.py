"""`verify run|report|fix`: parse, call runner.verify, render."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Optional

import typer

from runner.cli.context import get_app

app = typer.Typer(no_args_is_help=True)


@app.command("run")
def run(
    ctx: typer.Context,
    commit: str = typer.Option("HEAD", "--commit", help="Commit to verify (default: HEAD)."),
    stream: bool = typer.Option(False, "--stream", help="Show the test output live."),
) -> None:
    """Run the tests in the sandbox over a worktree of the commit; exit 1 naming failing tests."""
    import sys

    from runner.state.session import command_session
    from runner.verify.run import rev_parse, run_verify

    a = get_app(ctx)
    root = a.repo_root()
    config = a.config  # a bad config value is exit 2 before the lock, the live status or any container
    if a.dry_run:
        sha = rev_parse(root, commit)
        plan = {
            "commit": sha,
            "image": a.config.verify.image or "codex-sandbox/python:latest",
            "command": a.config.verify.command or "detected (pytest / npm test)",
            "network": a.config.verify.network,
        }
        a.emit({"dry_run": True, "plan": plan}, lambda: [print(f"{k}: {v}") for k, v in plan.items()])
        return
    from runner.cli.progress import for_app

    on_output = (lambda text: sys.stderr.write(text)) if stream and not a.json else None
    # Lock, recover a crashed run's leftovers, check the lifecycle (ad hoc without a plan: no state moves).
    with (command_session(root, "verify.run", command="verify run", info=a.info) as session,
          for_app(a, f"verifying {commit}") as act):
        act.note(f"verifying {commit} in the sandbox")
        report = run_verify(root, config, store=session.store, commit=commit, on_output=on_output,
                            progress=act.step)
    a.emit(report.model_dump(mode="json"), lambda: [print(line) for line in report.lines()])
    if not report.passed:
        from runner.errors import CommandFailed

        raise CommandFailed(f"verify {report.commit[:12]}: {report.reason or 'tests failed'}")


@app.command("report")
def report(
    ctx: typer.Context,
    junit: Optional[Path] = typer.Option(None, "--junit", help="Copy the last JUnit XML to this path."),
) -> None:
    """Print the last verify report (text, --json, or the JUnit file with --junit PATH)."""
    from runner.errors import InvalidInput
    from runner.state.store import Store
    from runner.verify.report import load_last

    a = get_app(ctx)
    if a.json and junit is not None and str(junit) == "-":
        raise InvalidInput("--junit - prints the XML on stdout: drop --json, or give --junit a file")
    root = a.repo_root()
    with Store.open(root) as store:
        last = load_last(root, store)
    if junit is not None:
        if not last.junit_path or not Path(last.junit_path).is_file():
            raise InvalidInput("the last verify run produced no JUnit XML")
        if str(junit) == "-":
            print(Path(last.junit_path).read_text(), end="")
            return
        shutil.copyfile(last.junit_path, junit)
        a.emit(last.model_dump(mode="json"), lambda: a.info(f"wrote {junit}"))  # --json: the report itself
        return
    a.emit(last.model_dump(mode="json"), lambda: [print(line) for line in last.lines()])


@app.command("fix")
def fix(ctx: typer.Context) -> None:
    """Turn the last failing report into a `fix` task and send the lifecycle back to BUILDING."""
    from runner.state.session import command_session
    from runner.verify.fix import propose_fix

    a = get_app(ctx)
    root = a.repo_root()
    with command_session(root, "verify.fix", command="verify fix", info=a.info) as session:
        task = propose_fix(root, session.store, a.config)
        state = session.store.lifecycle_state()
    a.emit(
        {"task": task.model_dump(mode="json"), "lifecycle": state},
        lambda: print(f"added fix task {task.id}: {task.title} (lifecycle {state})"),
    )
