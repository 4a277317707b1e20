"""`policy check`: the gates on the index, a revision range or files; exit 3 on a block."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from runner.cli.context import get_app
from runner.errors import InvalidInput, PolicyViolation

app = typer.Typer(no_args_is_help=True)

FORMATS = ("text", "json", "sarif")


def who_overrides(repo: Path) -> str:
    """The human giving an override: git user.name <user.email>, else $USER."""

    def cfg(key: str) -> str:
        proc = subprocess.run(["git", "-C", str(repo), "config", key], capture_output=True, text=True, check=False)
        return proc.stdout.strip()

    name, email = cfg("user.name"), cfg("user.email")
    if name:
        return f"{name} <{email}>" if email else name
    return os.environ.get("USER") or os.environ.get("LOGNAME") or "unknown"


def last_verify_coverage(repo: Path) -> float | None:
    """Coverage the newest verify report gives for the commit at HEAD, if any."""
    try:
        from runner.verify.report import load_last
    except ImportError:
        return None
    try:
        report = load_last(repo)
    except (InvalidInput, ValueError, OSError):
        return None
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=False)
    return report.coverage_percent if report.commit == head.stdout.strip() else None


@app.command("check")
def check(
    ctx: typer.Context,
    paths: Annotated[list[Path] | None, typer.Argument(help="Files or directories to check whole.")] = None,
    staged: bool = typer.Option(False, "--staged", help="Check the index against HEAD (the default; for a pre-commit hook)."),
    diff: str | None = typer.Option(None, "--diff", help="Check REV..HEAD (or an explicit A..B / A...B range)."),
    fmt: str = typer.Option("text", "--format", help="Output: text, json or sarif (SARIF 2.1.0)."),
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the report here, not stdout.")] = None,
    override: Annotated[list[str] | None, typer.Option(
        "--override", help="Let this blocking rule pass once (RULE, RULE:PATH or RULE:PATH:LINE); needs --reason.")] = None,
    reason: Annotated[list[str] | None, typer.Option(
        "--reason", help="Why the override is acceptable (audited): one for all, or one per --override.")] = None,
    target: Annotated[list[str] | None, typer.Option(
        "--target", help="Target files/globs; changes elsewhere block.")] = None,
    coverage: float | None = typer.Option(None, "--coverage", help="Coverage percent from a verify run."),
) -> None:
    """Run the security, quality, safety and compliance gates; exit 3 when a finding blocks."""
    from runner.policy import evaluate_changes
    from runner.policy.gitchanges import diff_changeset, paths_changeset, staged_changeset
    from runner.policy.models import Override

    a = get_app(ctx)
    if fmt not in FORMATS:
        raise InvalidInput(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    modes = sum([bool(staged), diff is not None, bool(paths)])
    if modes > 1:
        raise InvalidInput("give only one of --staged, --diff REV, or PATH...")
    reasons = [r.strip() for r in reason or [] if r.strip()]
    if override and a.dry_run:
        raise InvalidInput("--dry-run cannot be combined with --override (an override is recorded in the audit log)")
    if override and not reasons:
        raise InvalidInput("--override needs --reason \"...\" (it goes to the audit log)")
    if override and len(reasons) not in (1, len(override)):
        raise InvalidInput("give one --reason for all overrides, or one per --override")
    repo = a.repo_root()
    if paths:
        changes, mode = paths_changeset(repo, [str(p) for p in paths]), "paths"
    elif diff is not None:
        for rev in _range_ends(diff):  # each side named: exit 2 with the fix, not git's `fatal: ...`
            a.revision(rev, flag="--diff", root=repo)
        changes, mode = diff_changeset(repo, diff), f"diff {diff}"
    else:
        changes, mode = staged_changeset(repo), "staged"
    if coverage is None:
        coverage = last_verify_coverage(repo)
        if coverage is not None:
            a.info(f"coverage {coverage}% from the last verify run of HEAD")
    by = who_overrides(repo)
    overrides = [Override(rule=r, reason=reasons[i] if len(reasons) > 1 else reasons[0], by=by)
                 for i, r in enumerate(override or [])]  # fmt: skip
    a.info(f"policy check ({mode}): {len(changes.files)} file(s), +{changes.lines_added}/-{changes.lines_removed}")
    report = evaluate_changes(repo, changes, config=a.config.policies, target_files=target or None,
                              overrides=overrides, actor="human", coverage=coverage)  # fmt: skip
    _render(a, report, fmt, output)
    if report.decision == "block":
        from runner.errors import CommandFailed

        # the report is out (with --json it becomes the one document, with this error in it)
        raise CommandFailed(f"policy check blocked: {len(report.blocking)} blocking finding(s)",
                            PolicyViolation.exit_code)


def _range_ends(diff: str) -> list[str]:
    """The revisions an `A..B` / `A...B` / `REV` range names (an empty side is HEAD, EMPTY_TREE no commit)."""
    from runner.policy.gitchanges import EMPTY_TREE

    sides = diff.split("...", 1) if "..." in diff else diff.split("..", 1) if ".." in diff else [diff]
    return [s for s in sides if s and s != EMPTY_TREE]


def _render(a, report, fmt: str, output: Path | None) -> None:
    from runner.policy.render import render_text, to_sarif

    if a.json and output is None:  # the one JSON document main prints: the report (or its SARIF form)
        a.emit(to_sarif(report) if fmt == "sarif" else report.model_dump(mode="json"))
        return
    if fmt == "sarif":
        text = json.dumps(to_sarif(report), indent=2)
    elif fmt == "json" or a.json:
        text = json.dumps(report.model_dump(mode="json"), indent=2)
    else:
        text = render_text(report)
    if output is not None:
        output.write_text(text + "\n")
        a.info(f"report written to {output} ({report.summary()})")
        if a.json:
            a.emit(report.model_dump(mode="json"))
    elif fmt == "text" and not a.json:
        if not a.quiet or report.decision != "pass":
            sys.stdout.write(text + "\n")
    else:
        sys.stdout.write(text + "\n")
    sys.stdout.flush()
