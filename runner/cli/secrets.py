"""`secrets set|list|rm`: the local encrypted store. Values are never printed."""

from __future__ import annotations

import os
import sys

import typer

from runner.cli.context import get_app
from runner.errors import InvalidInput

app = typer.Typer(no_args_is_help=True)


def master_password(a) -> str:
    """$CODEX_MASTER_PASSWORD, else a hidden prompt on a terminal; never in --json/CI without the env var."""
    from runner.state.secrets import PASSWORD_ENV

    value = os.environ.get(PASSWORD_ENV)
    if value:
        return value
    if a.json or not sys.stdin.isatty():
        raise InvalidInput(f"no master password: set {PASSWORD_ENV} (no terminal to prompt on)")
    return typer.prompt("master password", hide_input=True)


def _store(ctx: typer.Context):
    from runner.state.secrets import open_store

    a = get_app(ctx)
    return a, open_store(a.repo_root(), master_password(a))


@app.command("set")
def set_secret(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Secret name (an env var name, e.g. DATABASE_URL)."),
    value_stdin: bool = typer.Option(
        False, "--value-stdin", help="Read the value from stdin instead of a prompt."
    ),
) -> None:
    """Add or replace a secret (the value is read hidden, or from stdin)."""
    from runner.state.secrets import check_name

    check_name(name)
    a, store = _store(ctx)
    if value_stdin:
        value = sys.stdin.read().rstrip("\r\n")
    elif sys.stdin.isatty():
        value = typer.prompt(f"value of {name}", hide_input=True)
    else:
        raise InvalidInput("no terminal to prompt for the value: pass --value-stdin")
    if a.dry_run:
        a.emit({"secret": name, "action": "set", "dry_run": True}, lambda: a.info(f"would set {name}"))
        return
    store.set(name, value)
    a.emit({"secret": name, "action": "set"}, lambda: a.info(f"set {name}"))


@app.command("list")
def list_secrets(ctx: typer.Context) -> None:
    """List secret names (never values)."""
    a, store = _store(ctx)
    names = store.names()
    a.emit({"secrets": names}, lambda: [print(n) for n in names] if names else a.info("no secrets"))


@app.command("rm")
def rm_secret(ctx: typer.Context, name: str = typer.Argument(..., help="Secret name.")) -> None:
    """Remove a secret."""
    a, store = _store(ctx)
    if a.dry_run:
        store.get(name)
        a.emit({"secret": name, "action": "rm", "dry_run": True}, lambda: a.info(f"would remove {name}"))
        return
    store.remove(name)
    a.emit({"secret": name, "action": "rm"}, lambda: a.info(f"removed {name}"))
