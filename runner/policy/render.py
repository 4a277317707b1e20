"""A PolicyReport as text for people, or as SARIF 2.1.0 for code-scanning tools."""

from __future__ import annotations

from typing import Any

from runner.policy.models import Finding, PolicyReport

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
LEVEL = {"error": "error", "warning": "warning", "info": "note"}


def _mark(f: Finding) -> str:
    if f.overridden:
        return "OVERRIDDEN"
    if f.blocking:
        return "BLOCK"
    return "pre-existing" if f.pre_existing else "warn"


def render_text(report: PolicyReport) -> str:
    """Findings (blocking first), then each check's status and the decision."""
    lines = []
    for f in report.findings:
        where = f"{f.file}:{f.line}" if f.file and f.line else (f.file or "-")
        lines.append(f"{_mark(f):<12} {f.rule:<36} {where}  {f.message}")
    if report.findings:
        lines.append("")
    lines.append("checks: " + ", ".join(f"{k}={v}" for k, v in report.gates.items() if "." in k or k == "safety"))
    for check, why in report.not_run.items():
        if not any(why in n for n in report.notes):  # a check that failed to run already has its note
            lines.append(f"not run: {check}: {why}")
    for note in report.notes:
        lines.append(f"note: {note}")
    for ov in report.overrides:
        lines.append(f"override: {ov['rule']} by {ov['by'] or '?'}: {ov['reason']} ({len(ov['matched'])} finding(s))")
    lines.append(f"policy {report.summary()}")
    return "\n".join(lines)


def _rule_descriptor(f: Finding) -> dict[str, Any]:
    return {
        "id": f.rule,
        "name": f.rule.replace(".", "/"),
        "shortDescription": {"text": f.rule},
        "properties": {"gate": f.gate, "check": f.check},
    }


def to_sarif(report: PolicyReport, *, tool_version: str = "0.1.0") -> dict[str, Any]:
    """One SARIF run; each finding is a result whose level is its severity."""
    rules: dict[str, dict] = {}
    results = []
    for f in report.findings:
        rules.setdefault(f.rule, _rule_descriptor(f))
        result: dict[str, Any] = {
            "ruleId": f.rule,
            "ruleIndex": list(rules).index(f.rule),
            "level": LEVEL.get(f.severity, "warning"),
            "message": {"text": f.message or f.rule},
            "properties": {"gate": f.gate, "blocking": f.blocking, "preExisting": f.pre_existing,
                           "overridden": f.overridden},
        }
        if f.pre_existing:
            result["baselineState"] = "unchanged"
        if f.overridden:
            result["suppressions"] = [{"kind": "external", "status": "accepted", "justification": _reason(report, f)}]
        if f.file:
            location: dict[str, Any] = {"artifactLocation": {"uri": f.file, "uriBaseId": "%SRCROOT%"}}
            if f.line:
                location["region"] = {"startLine": f.line}
            result["locations"] = [{"physicalLocation": location}]
        results.append(result)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "codex-sandbox-policy", "version": tool_version,
                                    "rules": list(rules.values())}},
                "results": results,
                "properties": {"decision": report.decision, "gates": report.gates, "notRun": report.not_run,
                               "overrides": report.overrides},
            }
        ],
    }


def _reason(report: PolicyReport, f: Finding) -> str:
    for ov in report.overrides:
        if f"{f.file or '-'}:{f.line or '-'}" in ov["matched"] and ov["rule"].split(":")[0] == f.rule:
            return f"{ov['reason']} (by {ov['by']})"
    return "overridden"
