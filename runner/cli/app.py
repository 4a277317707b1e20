"""Assemble the Typer app: one module per command or group (hatch style)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

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


def _root_callback(
    ctx: typer.Context,
    json_output: bool = typer.Option(False, "--json", help="Machine-readable JSON on stdout."),
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="More detail."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only errors and results."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would happen; change nothing."),
    config: Optional[Path] = typer.Option(None, "--config", help="Use this config file for the project layer."),
    no_color: bool = typer.Option(False, "--no-color", help="No colours in output."),
) -> None:
    """codex-sandbox: PRD to deployed code, every step in an ephemeral hardened container."""
    ctx.obj = AppContext(
        json=json_output, verbose=verbose, quiet=quiet, dry_run=dry_run, no_color=no_color, config_path=config
    )


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
    return typer.main.get_command(build_app())
