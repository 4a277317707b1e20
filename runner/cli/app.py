"""Assemble the Typer app: one module per command or group (hatch style)."""

from __future__ import annotations

from pathlib import Path

import typer

from runner.cli.context import AppContext

GROUPS = [
    # (name, module, help)
    ("images", "images", "Build and list the sandbox images (no registry needed)."),
    ("sandbox", "sandbox_cmd", "Run commands in hardened containers over a worktree; list and reap them."),
    ("policy", "policy", "Check change sets against the policy gates."),
    ("plan", "plan", "Turn a PRD into a task DAG; show, approve and revise it."),
    ("task", "task", "Add and list tasks."),
    ("build", "build", "Run tasks with Codex in the sandbox and commit what passes the gates."),
    ("verify", "verify", "Run the project's tests in the sandbox."),
    ("deploy", "deploy", "Deploy the verified commit to an environment."),
    ("observe", "observe", "Health, logs and metrics of deployed environments."),
    ("maintain", "maintain", "Add upgrade, patch and refactor tasks."),
    ("secrets", "secrets", "The local encrypted secret store."),
    ("config", "config_cmd", "Show, set and validate the layered configuration."),
]

COMMANDS = [
    # (name, module, function)
    ("init", "init_cmd", "init"),
    ("doctor", "doctor", "doctor"),
    ("status", "status", "status"),
    ("history", "history", "history"),
    ("reset", "reset", "reset"),
    ("scaffold", "scaffold", "scaffold"),
    ("run", "run_cmd", "run"),
    ("demo", "demo", "demo"),
]


# How each command treats --dry-run. Commands that only read need nothing; commands that change
# something print what they would do instead; the rest refuse --dry-run (exit 2, one line) rather than
# run for real. A command missing from all three is refused (a test keeps the table complete).
DRY_RUN_READS = {
    "doctor", "status", "history", "images list", "sandbox ps", "policy check", "plan show", "task list",
    "verify report", "observe logs", "observe metrics", "secrets list", "config show", "config validate",
}
DRY_RUN_HONOURS = {
    "init", "reset", "scaffold", "run", "demo", "sandbox run", "plan generate", "plan approve", "plan revise",
    "task add", "build next", "build task", "build all", "verify run", "deploy staging", "deploy prod",
    "deploy to", "deploy rollback", "observe status", "maintain upgrade", "maintain patch", "maintain refactor",
    "secrets set", "secrets rm", "config set",
}
DRY_RUN_REFUSED = {
    "images build": "it builds only what is missing or out of date; `images list` shows which are built",
    "sandbox gc": "`sandbox ps` lists the sandboxes it would look at",
    "verify fix": "`verify report` shows the failure it would turn into a task",
}


CONFIG = typer.Option(None, "--config", help="Use this config file for the project layer.")


def _root_callback(
    ctx: typer.Context,
    json_output: bool = typer.Option(False, "--json", help="One JSON document on stdout, also on failure."),
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="Debug logging on stderr (-vv: libraries too)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only errors and results."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would happen; change nothing."),
    config: Path | None = CONFIG,
    no_color: bool = typer.Option(False, "--no-color", help="No colours in output."),
    wait: bool = typer.Option(False, "--wait", help="Wait for another command's repo lock instead of failing."),
) -> None:
    """codex-sandbox: PRD to deployed code, every step in an ephemeral hardened container."""
    from runner.cli.logging_setup import configure

    a = ctx.obj if isinstance(ctx.obj, AppContext) else AppContext()
    a.json, a.verbose, a.quiet, a.dry_run, a.no_color, a.wait = json_output, verbose, quiet, dry_run, no_color, wait
    a.config_path = config
    ctx.obj = a
    configure(verbose, quiet)
    if wait:
        from runner.state.lock import WAIT_FOR_LOCK

        WAIT_FOR_LOCK.set(True)  # main runs each command in its own context: this ends with the command


def build_app() -> typer.Typer:
    import importlib

    app = typer.Typer(
        name="codex-sandbox",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(_root_callback)
    for name, module, help_text in GROUPS:
        try:
            mod = importlib.import_module(f"runner.cli.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"runner.cli.{module}":
                raise
            continue
        app.add_typer(mod.app, name=name, help=help_text, no_args_is_help=True)
    for name, module, func in COMMANDS:
        try:
            mod = importlib.import_module(f"runner.cli.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"runner.cli.{module}":
                raise
            continue
        app.command(name)(getattr(mod, func))
    return app


def build_command():
    command = typer.main.get_command(build_app())
    for path, leaf in leaf_commands(command):
        if path not in DRY_RUN_READS and path not in DRY_RUN_HONOURS:
            _refuse_dry_run(leaf, path, DRY_RUN_REFUSED.get(path, "it has no dry run"))
    return command


def leaf_commands(group, prefix: str = ""):
    """(path, command) of every runnable command under `group`, e.g. ("sandbox run", <command>)."""
    for name, cmd in sorted(getattr(group, "commands", {}).items()):
        path = f"{prefix} {name}".strip()
        if getattr(cmd, "commands", None) is not None:
            yield from leaf_commands(cmd, path)
        else:
            yield path, cmd


def _refuse_dry_run(command, path: str, why: str) -> None:
    """Wrap the command so --dry-run is refused before it does anything."""
    import functools

    original = command.callback

    @functools.wraps(original)
    def guarded(*args, **kwargs):
        from typer._click.globals import get_current_context

        from runner.cli.context import get_app
        from runner.errors import InvalidInput

        if get_app(get_current_context()).dry_run:
            raise InvalidInput(f"`{path}` cannot honour --dry-run ({why}); run it without --dry-run")
        return original(*args, **kwargs)

    command.callback = guarded
