"""What the gates report: findings, overrides and the aggregated decision."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, Field

Severity = Literal["error", "warning", "info"]
Decision = Literal["pass", "warn", "block"]
GateStatus = Literal["pass", "warn", "block", "not run", "skipped"]


class Finding(BaseModel):
    """One thing a gate found in a change."""

    gate: Literal["security", "quality", "safety", "compliance"]
    rule: str = Field(description="Rule id, e.g. secret.aws-access-key or semgrep.python-os-system.")
    file: str | None = None
    line: int | None = None
    severity: Severity = "error"
    message: str
    blocking: bool = False
    pre_existing: bool = Field(False, description="Already in the file before the change (never blocks).")
    overridden: bool = Field(False, description="A human override let this blocking finding pass.")
    check: str = Field("", description="The check inside the gate, e.g. security.secrets.")


def status_of(findings: list[Finding]) -> str:
    """The status of a check that ran: block, warn (something new) or pass."""
    if any(f.blocking and not f.overridden for f in findings):
        return "block"
    if any(not f.pre_existing for f in findings):
        return "warn"
    return "pass"


@dataclass
class CheckRun:
    """What one check did: its findings, and why it did not run when it did not."""

    findings: list[Finding] = field(default_factory=list)
    status: str | None = None  # "not run" or "skipped"; None: status_of(findings)
    why: str = ""  # why it did not run
    failed: bool = False  # not run because its tool was missing or failed, not for want of input
    notes: list[str] = field(default_factory=list)

    @property
    def result(self) -> str:
        return self.status or status_of(self.findings)

    @classmethod
    def skipped(cls) -> CheckRun:
        """Turned off by the policy."""
        return cls(status="skipped")

    @classmethod
    def idle(cls, why: str) -> CheckRun:
        """Nothing to check (no Python file, no dependency change): `not run`, and no finding."""
        return cls(status="not run", why=why)

    @classmethod
    def not_run(cls, gate: str, check: str, rule: str, why: str, blocking: bool,
                findings: list[Finding] | None = None) -> CheckRun:  # fmt: skip
        """The check could not run (tool missing, crashed, timed out): `not run` with a finding saying why,
        blocking when the policy makes the check blocking. `findings`: what it found before it failed."""
        finding = Finding(gate=gate, check=check, rule=rule, severity="error" if blocking else "warning",  # type: ignore[arg-type]
                          blocking=blocking, message=why)  # fmt: skip
        return cls(findings=[*(findings or []), finding], status="not run", why=why, failed=True,
                   notes=[f"{check} not run: {why}"])  # fmt: skip


class Override(BaseModel):
    """A human's one-off pass of a blocking rule: `rule` or `rule:path` or `rule:path:line`."""

    rule: str
    reason: str
    by: str = ""

    def matches(self, finding: Finding) -> bool:
        rule, _, where = self.rule.partition(":")
        if rule != finding.rule:
            return False
        if not where:
            return True
        path, _, line = where.rpartition(":") if where.rsplit(":", 1)[-1].isdigit() else (where, "", "")
        return path == finding.file and (not line or str(finding.line) == line)


class PolicyReport(BaseModel):
    """The decision for one change set, with every finding and each check's status."""

    decision: Decision
    findings: list[Finding] = Field(default_factory=list)
    gates: dict[str, str] = Field(default_factory=dict, description="check name -> pass|warn|block|not run|skipped")
    overrides: list[dict] = Field(default_factory=list, description="Overrides applied: rule, reason, by, matched.")
    not_run: dict[str, str] = Field(default_factory=dict, description="check -> why it did not run (nothing to "
                                    "check, or its tool was missing or failed; the latter also has a finding).")
    notes: list[str] = Field(default_factory=list, description="Why a check failed to run, scanner errors and the like.")
    timings: dict[str, float] = Field(default_factory=dict)
    policy_digest: str = ""

    @property
    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if f.blocking and not f.overridden]

    def summary(self) -> str:
        """One line: decision and counts."""
        n_block = len(self.blocking)
        n_warn = sum(1 for f in self.findings if not f.blocking and not f.pre_existing and not f.overridden)
        n_pre = sum(1 for f in self.findings if f.pre_existing)
        return f"{self.decision}: {n_block} blocking, {n_warn} warnings, {n_pre} pre-existing"
