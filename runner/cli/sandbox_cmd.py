"""`codex-sandbox sandbox run|ps|gc`: parse, call runner.build.adhoc / sandbox.gc, render."""

from __future__ import annotations

import typer

from runner.cli.context import get_app

app = typer.Typer(no_args_is_help=True)

_MEMORY = r"^[0-9]+[bkmgBKMG]?$"


def parse_limits(current, updates: dict):
    """Flags over configured limits; a bad value is one line and exit 2."""
    import re

    from pydantic import ValidationError

    from runner.errors import InvalidInput

    if "memory" in updates and not re.match(_MEMORY, updates["memory"]):
        raise InvalidInput(f"--memory must look like 512m or 2g, got {updates['memory']!r}")
    try:
        return type(current).model_validate({**current.model_dump(), **updates})
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InvalidInput(f"bad limit {err['loc'][0]}: {err['msg']}") from None


@app.command("run", context_settings={"allow_interspersed_args": False})
def run(
    ctx: typer.Context,
    command: list[str] = typer.Argument(..., help="The command to run in the sandbox (after --)."),  # noqa: B008
    image: str | None = typer.Option(None, "--image", help="Image (default: codex-sandbox/codex)."),
    network: str | None = typer.Option(None, "--network", help="none (default) or a Docker network name."),
    timeout: int | None = typer.Option(None, "--timeout", min=1, help="Seconds before the run is killed."),
    memory: str | None = typer.Option(None, "--memory", help="Memory limit, e.g. 512m, 2g."),
    cpus: float | None = typer.Option(None, "--cpus", min=0.01, help="CPU limit in cores."),
    pids: int | None = typer.Option(None, "--pids", min=16, help="Process limit."),
    keep: bool = typer.Option(False, "--keep", help="Keep the run's branch (never a live tree); the patch is always kept."),
    base: str = typer.Option("HEAD", "--base", help="Revision the worktree starts from."),
    patch: bool = typer.Option(False, "--patch", help="Print the whole patch, not only the diff summary."),
) -> None:
    """Run CMD in a hardened container over a fresh worktree; print the change set it left."""
    from runner.cli.sandbox_render import render_outcome, stream_printer
    from runner.build.adhoc import SandboxRunRequest, sandbox_run

    a = get_app(ctx)
    repo = a.repo_root()
    cfg = a.config.sandbox
    if (network or cfg.network) == "host":
        from runner.errors import InvalidInput

        raise InvalidInput("--network host is not allowed for a sandbox; use none or a Docker network name")
    updates = {"timeout_s": timeout, "memory": memory, "cpus": cpus, "pids": pids}
    limits = parse_limits(cfg.limits, {k: v for k, v in updates.items() if v is not None})
    base_commit = a.revision(base, flag="--base", root=repo)  # exit 2 before any worktree or container
    if a.dry_run:
        return _show_dry_run(a, command, image, network or cfg.network, limits, base, base_commit, keep, cfg)
    request = SandboxRunRequest(
        repo=repo,
        command=list(command),
        image=image,
        network=network or cfg.network,
        limits=limits,
        extract=cfg.extract,
        pool_size=cfg.pool_size,
        keep=keep,
        base=base,
        base_image=cfg.base_image,
    )
    on_output = None if (a.json or a.quiet) else stream_printer(a.err_console)
    outcome = sandbox_run(request, on_output=on_output, progress=a.info)
    a.emit(outcome.to_json(), human=lambda: render_outcome(a.console, outcome, patch=patch))
    if not outcome.result.ok:
        from runner.errors import CommandFailed, ExitCode

        missing = _missing_program(outcome) if outcome.result.exit_code == 127 else None
        if missing:
            raise CommandFailed(f"sandbox run {outcome.run_id}: {missing}", ExitCode.INVALID_INPUT)
        raise CommandFailed(f"sandbox run {outcome.run_id}: command failed: {outcome.result.reason}")


def _missing_program(outcome) -> str | None:
    """tini's `exec X failed` in the run's output, as the image to use instead."""
    from runner.cli.translate import missing_program

    log = outcome.result.log_path
    try:
        with open(log, "rb") as fh:
            fh.seek(0, 2)
            fh.seek(max(0, fh.tell() - 8192))
            tail = fh.read().decode(errors="replace")
    except (OSError, TypeError):
        return None
    return missing_program(tail, outcome.image)


def _show_dry_run(a, command, image, network, limits, base, base_commit, keep, cfg) -> None:
    """What `sandbox run` would do: nothing is created (no worktree, container, run folder or branch)."""
    from runner.build.result import codex_image_status

    plan = {
        "command": list(command),
        "image": image or codex_image_status(cfg.base_image),
        "base": f"{base} ({base_commit[:12]})",
        "network": network,
        "limits": limits.model_dump(mode="json"),
        "worktree": f"a pooled worktree of {a.repo_root()} at {base_commit[:12]} (pool of {cfg.pool_size})",
        "keep": keep,
    }

    def human() -> None:
        a.console.print("dry run: would run in the sandbox (nothing created)", markup=False)
        for key, value in plan.items():
            a.console.print(f"  {key}: {value}", markup=False)

    a.emit({"dry_run": True, "plan": plan}, human=human)


@app.command("ps")
def ps(
    ctx: typer.Context,
    all_repos: bool = typer.Option(False, "--all", help="Sandboxes of every repository, not just this one."),
) -> None:
    """List running sandbox containers of this repository."""
    from sandbox.gc import list_sandboxes

    a = get_app(ctx)
    rows = list_sandboxes(None if all_repos else a.repo_root())

    def human() -> None:
        if not rows:
            a.console.print("no sandboxes", markup=False)
            return
        a.table(("NAME", "STATUS", "RUN", "KIND", "IMAGE", "OWNER PID", "CREATED"),
                [(r["name"], r["status"], r["run"], r["kind"], r["image"],
                  f"{r['owner_pid']}" + ("" if r["owner_alive"] else " (dead)"), r["created"]) for r in rows],
                wrap=("IMAGE", "CREATED"))

    a.emit({"sandboxes": rows}, human=human)


@app.command("gc")
def gc(
    ctx: typer.Context,
    include_live: bool = typer.Option(
        False, "--include-live", help="Also remove sandboxes whose owner still runs."
    ),
    all_repos: bool = typer.Option(
        False, "--all", help="Reap every repository's leftovers, not just this one's."
    ),
) -> None:
    """Remove containers and worktrees left behind by crashed runs."""
    from sandbox.gc import reap

    a = get_app(ctx)
    report = reap(None if all_repos else a.repo_root(), include_live=include_live)

    def human() -> None:
        if not (report.containers or report.worktrees or report.networks or report.volumes):
            a.console.print("nothing to remove", markup=False)
        for name in report.containers:
            a.console.print(f"removed container {name}", markup=False)
        for path in report.worktrees:
            a.console.print(f"removed worktree {path}", markup=False)
        for name in report.volumes:
            a.console.print(f"removed volume {name}", markup=False)
        for name in report.networks:
            a.console.print(f"removed network {name}", markup=False)

    a.emit(report, human=human)
