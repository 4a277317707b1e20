"""`deploy staging|prod|to ENV|rollback ENV`: parse, approve, call runner.deploy, render."""

from __future__ import annotations

import os
import sys
from typing import Optional

import typer

from runner.cli.context import get_app
from runner.errors import PolicyViolation

app = typer.Typer(no_args_is_help=True)

APPROVE = typer.Option(False, "--approve", help="Approve a deploy to an environment that requires it (prod).")
COMMIT = typer.Option(None, "--commit", help="Commit to deploy (default: the last verified commit).")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def approval(a, env: str, needed: bool, approve: bool, what: str) -> str | None:
    """'flag', 'tty' or None; refused (exit 3) in --json/CI/no terminal without --approve."""
    if not needed:
        return None
    if approve:
        return "flag"
    if a.json or _in_ci() or not sys.stdin.isatty():
        raise PolicyViolation(f"{what} to {env} needs approval: pass --approve")
    if typer.confirm(f"{what} to {env}?", default=False):
        return "tty"
    raise PolicyViolation(f"{what} to {env} was not approved")


def _secrets_loader(a):
    def load(names: list[str]) -> dict[str, str]:
        from runner.cli.secrets import master_password
        from runner.secrets import open_store

        return open_store(a.repo_root(), master_password(a)).subset(names)

    return load


def _render(a, result) -> None:
    data = result.model_dump(mode="json")

    def human() -> None:
        print(f"{result.env}: {result.status} {(result.commit or '')[:12]} {result.url or ''}".rstrip())
        for step in result.steps:
            print(f"  step {step['name']} ({step['phase']}): {'ok' if step['ok'] else step['reason']}")
        if result.message:
            print(f"  {result.message}")

    a.emit(data, human)
    if not result.ok:
        raise typer.Exit(1)


def _deploy(ctx: typer.Context, env: str, approve: bool, commit: Optional[str]) -> None:
    from runner.deploy.service import Deployer
    from runner.store import Store

    a = get_app(ctx)
    root = a.repo_root()
    with Store.open(root) as store:
        deployer = Deployer(root, a.config.deploy, store=store, secrets=_secrets_loader(a))
        if a.dry_run:
            plan = deployer.plan(env, commit)
            a.emit({"dry_run": True, "plan": plan}, lambda: [print(f"{k}: {v}") for k, v in plan.items()])
            return
        needed = deployer.provider.env_config(env).needs_approval(env)
        sha = deployer.resolve_commit(commit)
        via = approval(a, env, needed, approve, f"deploy {sha[:12]}")
        a.info(f"deploying {sha[:12]} to {env} ({a.config.deploy.provider})")
        result = deployer.deploy(env, commit=sha, approved_by=via, on_line=None)
    _render(a, result)


@app.command("staging")
def staging(ctx: typer.Context, approve: bool = APPROVE, commit: Optional[str] = COMMIT) -> None:
    """Deploy the verified commit to staging."""
    _deploy(ctx, "staging", approve, commit)


@app.command("prod")
def prod(ctx: typer.Context, approve: bool = APPROVE, commit: Optional[str] = COMMIT) -> None:
    """Deploy the verified commit to prod (needs --approve or a terminal confirmation)."""
    _deploy(ctx, "prod", approve, commit)


@app.command("to")
def to(
    ctx: typer.Context,
    env: str = typer.Argument(..., help="Environment name from deploy.environments."),
    approve: bool = APPROVE,
    commit: Optional[str] = COMMIT,
) -> None:
    """Deploy the verified commit to any configured environment."""
    _deploy(ctx, env, approve, commit)


@app.command("rollback")
def rollback(
    ctx: typer.Context,
    env: str = typer.Argument(..., help="Environment to roll back."),
    approve: bool = APPROVE,
) -> None:
    """Put the environment's previous image back."""
    from runner.deploy.service import Deployer
    from runner.store import Store

    a = get_app(ctx)
    root = a.repo_root()
    with Store.open(root) as store:
        deployer = Deployer(root, a.config.deploy, store=store, secrets=_secrets_loader(a))
        if a.dry_run:
            a.emit(
                {"dry_run": True, "rollback": env},
                lambda: print(f"would roll back {env} to its previous image"),
            )
            return
        via = approval(a, env, deployer.provider.env_config(env).needs_approval(env), approve, "roll back")
        result = deployer.rollback(env, approved_by=via)
    _render(a, result)
