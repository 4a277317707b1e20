"""What the gates report: findings, overrides and the aggregated decision."""

from __future__ import annotations

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
    notes: list[str] = Field(default_factory=list, description="Why a check did not run, and the like.")
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
