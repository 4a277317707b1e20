"""The verify report: typed, stored next to its JUnit file under .codex/runs/verify/<run>/."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, Field

from runner.errors import InvalidInput
from runner.verify.junit import TestResult


class VerifyReport(BaseModel):
    """What one verify run found, for one commit."""

    run_id: str
    commit: str
    passed: bool
    exit_code: int | None
    reason: str = ""
    command: str
    image: str
    ecosystem: str
    total: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    coverage_percent: float | None = None
    duration_s: float = 0.0
    deps_installed: bool = False
    deps_cached: bool = False
    failures: list[TestResult] = Field(default_factory=list)
    junit_path: str | None = None
    coverage_path: str | None = None
    log_path: str | None = None
    mode: str = "adhoc"

    @property
    def failing_names(self) -> list[str]:
        return [f.name for f in self.failures]

    def summary(self) -> str:
        head = "PASS" if self.passed else "FAIL"
        cov = f", coverage {self.coverage_percent}%" if self.coverage_percent is not None else ""
        counts = f"{self.total} tests, {self.failed} failed, {self.errors} errors, {self.skipped} skipped"
        return f"{head} {self.commit[:12]}: {counts}{cov} ({self.duration_s:.1f}s)"

    def lines(self) -> list[str]:
        out = [self.summary()]
        if not self.passed and not self.failures:
            out.append(f"  {self.reason or 'tests failed'}")
        for f in self.failures:
            out.append(
                f"  {f.outcome.upper()} {f.name}"
                + (f": {f.message.splitlines()[0][:160]}" if f.message else "")
            )
        return out


def runs_dir(root: Path) -> Path:
    return Path(root) / ".codex" / "runs" / "verify"


def save(report: VerifyReport, directory: Path) -> Path:
    from runner.fsutil import atomic_write

    path = directory / "report.json"
    atomic_write(path, report.model_dump_json(indent=2) + "\n")
    return path


def load_last(root: Path, store=None) -> VerifyReport:
    """The newest stored report (by the store's runs when given, else by run id order)."""
    candidates: list[Path] = []
    if store is not None:
        for run in reversed(store.list_runs(kind="verify")):
            if run.manifest_path:
                candidates.append(Path(root) / run.manifest_path)
    base = runs_dir(root)
    if base.is_dir():
        candidates += sorted(base.glob("*/report.json"), reverse=True)
    for path in candidates:
        if path.is_file():
            return VerifyReport.model_validate(json.loads(path.read_text()))
    raise InvalidInput("no verify report yet: run `codex-sandbox verify run`")
