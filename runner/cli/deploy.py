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
OVERRIDE = typer.Option(
    None,
    "--override",
    metavar="RULE",
    help="Let this blocking policy rule pass once (RULE, RULE:PATH or RULE:PATH:LINE); needs --reason.",
)
REASON = typer.Option(
    None, "--reason", metavar="TEXT", help="Why the override is acceptable (audited): one, or one per --override."
)


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _can_prompt(a) -> bool:
    return not (a.json or _in_ci() or not sys.stdin.isatty())


def approval(a, env: str, needed: bool, approve: bool, what: str) -> str | None:
    """'flag', 'tty' or None; refused (exit 3) in --json/CI/no terminal without --approve."""
    if not needed:
        return None
    if approve:
        return "flag"
    if not _can_prompt(a):
        raise PolicyViolation(f"{what} to {env} needs approval: pass --approve")
    if typer.confirm(f"{what} to {env}?", default=False):
        return "tty"
    raise PolicyViolation(f"{what} to {env} was not approved")


def _secrets_loader(a):
    def load(names: list[str]) -> dict[str, str]:
        from runner.cli.secrets import master_password
        from runner.state.secrets import open_store

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
        from runner.errors import CommandFailed

        raise CommandFailed(f"{result.env}: {result.status}" + (f": {result.message}" if result.message else ""))


def _overrides(root, override: list[str] | None, reason: list[str] | None) -> list:
    """--override/--reason as in `policy check`: a human's, audited, each with a reason."""
    from runner.cli.policy import who_overrides
    from runner.errors import InvalidInput
    from runner.policy.models import Override

    reasons = [r.strip() for r in reason or [] if r.strip()]
    if not override:
        return []
    if not reasons:
        raise InvalidInput('--override needs --reason "..." (it goes to the audit log)')
    if len(reasons) not in (1, len(override)):
        raise InvalidInput("give one --reason for all overrides, or one per --override")
    by = who_overrides(root)
    return [Override(rule=r, reason=reasons[i] if len(reasons) > 1 else reasons[0], by=by)
            for i, r in enumerate(override)]  # fmt: skip


def _blocked(a, exc) -> None:
    """The gate's findings (text, or one JSON document), then the error line and exit 3."""
    from runner.policy.render import render_text

    data = {"blocked": True, "env": exc.env, "commit": exc.commit, "report": exc.report.model_dump(mode="json")}
    a.emit(data, lambda: print(render_text(exc.report)))
    from runner.errors import CommandFailed

    raise CommandFailed(str(exc), PolicyViolation.exit_code)


def _deploy(ctx: typer.Context, env: str, approve: bool, commit: Optional[str],
            override: list[str] | None = None, reason: list[str] | None = None) -> None:  # fmt: skip
    from runner.deploy.gate import DeployBlocked
    from runner.deploy.service import Deployer
    from runner.cli.progress import for_app
    from runner.state.session import command_session
    from runner.state.store import Store

    a = get_app(ctx)
    root = a.repo_root()
    overrides = _overrides(root, override, reason)
    with Store.open(root) as store:  # read-only until the session: plan, commit, approval
        deployer = Deployer(root, a.config.deploy, store=store, policies=a.config.policies)
        if a.dry_run:
            plan = deployer.plan(env, commit)
            a.emit({"dry_run": True, "plan": plan}, lambda: [print(f"{k}: {v}") for k, v in plan.items()])
            return
        needed = deployer.provider.env_config(env).needs_approval(env)
        sha = deployer.resolve_commit(commit)
    via = approval(a, env, needed, approve, f"deploy {sha[:12]}")
    with (command_session(root, "deploy", command=f"deploy {env}", info=a.info) as session,
          for_app(a, f"deploying {sha[:12]} to {env}") as act):
        deployer = Deployer(root, a.config.deploy, store=session.store, secrets=_secrets_loader(a),
                            policies=a.config.policies, progress=act.step)  # fmt: skip
        act.note(f"deploying {sha[:12]} to {env} ({a.config.deploy.provider}); policy gate first")
        try:
            result = deployer.deploy(env, commit=sha, approved_by=via, on_line=None, overrides=overrides)
        except DeployBlocked as exc:
            with act.paused():  # the findings go to stdout
                _blocked(a, exc)
    _render(a, result)


@app.command("staging")
def staging(ctx: typer.Context, approve: bool = APPROVE, commit: Optional[str] = COMMIT,
            override: list[str] | None = OVERRIDE, reason: list[str] | None = REASON) -> None:  # fmt: skip
    """Deploy the verified commit to staging (policy-gated first)."""
    _deploy(ctx, "staging", approve, commit, override, reason)


@app.command("prod")
def prod(ctx: typer.Context, approve: bool = APPROVE, commit: Optional[str] = COMMIT,
         override: list[str] | None = OVERRIDE, reason: list[str] | None = REASON) -> None:  # fmt: skip
    """Deploy the verified commit to prod (needs --approve or a terminal confirmation; policy-gated)."""
    _deploy(ctx, "prod", approve, commit, override, reason)


@app.command("to")
def to(
    ctx: typer.Context,
    env: str = typer.Argument(..., help="Environment name from deploy.environments."),
    approve: bool = APPROVE,
    commit: Optional[str] = COMMIT,
    override: list[str] | None = OVERRIDE,
    reason: list[str] | None = REASON,
) -> None:
    """Deploy the verified commit to any configured environment (policy-gated)."""
    _deploy(ctx, env, approve, commit, override, reason)


@app.command("rollback")
def rollback(
    ctx: typer.Context,
    env: str = typer.Argument(..., help="Environment to roll back."),
    approve: bool = APPROVE,
) -> None:
    """Put the environment's previous image back (allowed in every lifecycle state; takes the repo lock)."""
    from runner.deploy.service import Deployer
    from runner.cli.progress import for_app
    from runner.state.session import command_session

    a = get_app(ctx)
    root = a.repo_root()
    deployer = Deployer(root, a.config.deploy)
    if a.dry_run:
        a.emit(
            {"dry_run": True, "rollback": env},
            lambda: print(f"would roll back {env} to its previous image"),
        )
        return
    if _can_prompt(a):
        deployer.rollback_target(env)  # nothing to roll back to: refused before the prompt, not after
    via = approval(a, env, deployer.provider.env_config(env).needs_approval(env), approve, "roll back")
    with (command_session(root, "deploy.rollback", command=f"deploy rollback {env}", info=a.info) as session,
          for_app(a, f"rolling back {env}") as act):
        deployer = Deployer(root, a.config.deploy, store=session.store, secrets=_secrets_loader(a),
                            progress=act.step)
        result = deployer.rollback(env, approved_by=via)
    _render(a, result)
