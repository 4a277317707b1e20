"""The quality gate: ruff on changed Python files (added lines count), and the coverage threshold."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from runner.policy.blobs import StagedFile
from runner.policy.config import CoveragePolicy, LintPolicy
from runner.policy.models import Finding


def ruff_exe() -> str | None:
    return shutil.which("ruff")


def start_ruff(root: Path, files: list[StagedFile], policy: LintPolicy) -> subprocess.Popen | None:
    """Start ruff on the staged Python files (it runs while the other scanners do)."""
    py = [f.path for f in files if f.path.endswith((".py", ".pyi"))]
    exe = ruff_exe()
    if not py or exe is None or not policy.enabled:
        return None
    cmd = [exe, "check", "--isolated", "--no-cache", "--exit-zero", "--output-format", "json",
           "--select", ",".join(policy.select), "--", *py]  # fmt: skip
    return subprocess.Popen(cmd, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def lint_findings(proc: subprocess.Popen | None, root: Path, files: list[StagedFile], policy: LintPolicy) -> list[Finding]:
    """Collect ruff's answer; problems on unchanged lines are pre-existing and never block."""
    if proc is None:
        return []
    stdout, stderr = proc.communicate(timeout=120)
    try:
        items = json.loads(stdout or "[]")
    except ValueError:
        return [Finding(gate="quality", check="quality.lint", rule="lint.error", severity="warning",
                        message=f"ruff failed: {stderr.strip()[:200]}")]  # fmt: skip
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
        out.append(Finding(gate="quality", check="quality.lint", rule=f"lint.{item.get('code') or 'syntax'}",
                           file=rel, line=line, severity="error" if block else "warning", blocking=block,
                           pre_existing=pre, message=item.get("message", "")))  # fmt: skip
    return out


def coverage_findings(coverage: float | None, policy: CoveragePolicy) -> tuple[str, list[Finding]]:
    """Compare a verify run's coverage with the minimum; no report means 'not run'."""
    if not policy.enabled:
        return "skipped", []
    if coverage is None:
        return "not run", []
    if coverage + 1e-9 >= policy.min_percent:
        return "pass", []
    finding = Finding(gate="quality", check="quality.coverage", rule="coverage.below-minimum",
                      severity="error" if policy.blocking else "warning", blocking=policy.blocking,
                      message=f"coverage {coverage:.1f}% is below the minimum {policy.min_percent:.1f}%")  # fmt: skip
    return ("block" if policy.blocking else "warn"), [finding]

