"""The quality gate: ruff on changed Python files (added lines count), and the coverage threshold."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from runner.policy.blobs import StagedFile
from runner.config.policy import CoveragePolicy, LintPolicy
from runner.policy.models import CheckRun, Finding
from sandbox.tools import find_tool, missing_reason

RUFF_TIMEOUT_S = 120
CHECK = "quality.lint"


def ruff_exe() -> str | None:
    return find_tool("ruff")


@dataclass
class RuffRun:
    """ruff started on the staged files, or why it was not (`failed`: a tool problem, not an empty input)."""

    proc: subprocess.Popen | None = None
    why: str = ""
    failed: bool = False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def start_ruff(root: Path, files: list[StagedFile], policy: LintPolicy) -> RuffRun:
    """Start ruff on the staged Python files (it runs while the other scanners do)."""
    py = [f.path for f in files if f.path.endswith((".py", ".pyi"))]
    if not policy.enabled:
        return RuffRun(why="disabled")
    if not py:
        return RuffRun(why="no Python files in the change")
    exe = ruff_exe()
    if exe is None:
        return RuffRun(why=missing_reason("ruff"), failed=True)
    cmd = [exe, "check", "--isolated", "--no-cache", "--exit-zero", "--output-format", "json",
           "--select", ",".join(policy.select), "--", *py]  # fmt: skip
    try:
        proc = subprocess.Popen(cmd, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except OSError as exc:
        return RuffRun(why=f"ruff could not start: {exc}", failed=True)
    return RuffRun(proc=proc)


def _not_run(why: str, policy: LintPolicy) -> CheckRun:
    return CheckRun.not_run("quality", CHECK, "lint.not-run", why, policy.blocking)


def lint_check(run: RuffRun, root: Path, files: list[StagedFile], policy: LintPolicy) -> CheckRun:
    """Collect ruff's answer; problems on unchanged lines are pre-existing and never block.

    Anything short of ruff's JSON report (no ruff, a crash, a timeout) is `not run`, never `pass`.
    """
    if not policy.enabled:
        return CheckRun.skipped()
    if run.proc is None:
        return _not_run(run.why, policy) if run.failed else CheckRun.idle(run.why)
    try:
        stdout, stderr = run.proc.communicate(timeout=RUFF_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        run.stop()
        return _not_run(f"ruff timed out after {RUFF_TIMEOUT_S} s", policy)
    tail = " ".join(stderr.strip().splitlines()[-3:])[:300] or "no output"
    if run.proc.returncode != 0:  # --exit-zero: any other code is ruff failing, not ruff finding
        return _not_run(f"ruff failed (exit {run.proc.returncode}): {tail}", policy)
    try:
        items = json.loads(stdout)
    except ValueError:
        items = None
    if not isinstance(items, list):
        return _not_run(f"ruff gave no JSON report: {tail}", policy)
    return CheckRun(_findings(items, root, files, policy))


def _findings(items: list[dict], root: Path, files: list[StagedFile], policy: LintPolicy) -> list[Finding]:
    by_path = {f.path: f for f in files}
    out: list[Finding] = []
    for item in items:
        try:
            rel = str(Path(item["filename"]).resolve().relative_to(root.resolve()))
        except ValueError:
            rel = item["filename"]
        f = by_path.get(rel)
        line = (item.get("location") or {}).get("row")
        pre = f is not None and line not in f.added_lines
        block = policy.blocking and not pre
        out.append(Finding(gate="quality", check=CHECK, rule=f"lint.{item.get('code') or 'syntax'}",
                           file=rel, line=line, severity="error" if block else "warning", blocking=block,
                           pre_existing=pre, message=item.get("message", "")))  # fmt: skip
    return out


def coverage_check(coverage: float | None, policy: CoveragePolicy) -> CheckRun:
    """Compare a verify run's coverage with the minimum; no report means 'not run'."""
    if not policy.enabled:
        return CheckRun.skipped()
    if coverage is None:
        return CheckRun.idle("no coverage figure (no verify run reported one)")
    if coverage + 1e-9 >= policy.min_percent:
        return CheckRun()
    finding = Finding(gate="quality", check="quality.coverage", rule="coverage.below-minimum",
                      severity="error" if policy.blocking else "warning", blocking=policy.blocking,
                      message=f"coverage {coverage:.1f}% is below the minimum {policy.min_percent:.1f}%")  # fmt: skip
    return CheckRun([finding])
