"""evaluate_changes: the one call that gates a change set before it is committed, merged or deployed.

Blobs are read from the object DB and written once to a temp dir; semgrep-core and ruff run as
subprocesses while detect-secrets (the slowest import) runs in this process, side by side.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from runner.errors import PolicyViolation
from runner.policy import deps as deps_mod
from runner.policy.blobs import StagedFile, Staging
from runner.policy.cache import ResultCache
from runner.policy.config import BUILTIN_RULES_DIR, PolicyConfig, load_policy_config
from runner.policy.licenses import license_findings, load_table
from runner.policy.models import Finding, Override, PolicyReport
from runner.policy.quality import coverage_findings, lint_findings, start_ruff
from runner.policy.safety import safety_findings
from runner.policy.secrets_scan import detect_secrets_scan, excluded, secret_findings
from runner.policy.semgrep_runner import RuleSet, load_rules, run_semgrep
from sandbox.changeset import ChangeSet

GATES = ("security", "quality", "safety", "compliance")
SEVERITY = {"ERROR": "error", "WARNING": "warning", "INFO": "info"}


@lru_cache(maxsize=8)
def _rules_cached(paths: tuple[str, ...], stamp: tuple[float, ...]) -> RuleSet:
    return load_rules([Path(p) for p in paths])


def policy_rules(repo: Path, policy: PolicyConfig) -> RuleSet:
    """The built-in rules plus the repo's extra rule paths, parsed once per process per change of files."""
    paths = ([BUILTIN_RULES_DIR] if policy.security.semgrep.builtin_rules else []) + [
        (repo / p) for p in policy.security.semgrep.rules
    ]
    stamp = tuple(max((q.stat().st_mtime for q in p.rglob("*")), default=0) if p.is_dir() else
                  (p.stat().st_mtime if p.exists() else 0) for p in paths)  # fmt: skip
    return _rules_cached(tuple(str(p) for p in paths), stamp)


def _semgrep_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("semgrep")
    except PackageNotFoundError:
        return "missing"


def _semgrep_findings(root: Path, work: Path, files: list[StagedFile], repo: Path, policy: PolicyConfig,
                      cache: ResultCache) -> tuple[list[Finding], str, list[str]]:  # fmt: skip
    """Semgrep over the files not already cached for this blob + rules hash."""
    sp = policy.security.semgrep
    ruleset = policy_rules(repo, policy)
    version = _semgrep_version()
    matches: dict[str, list[dict]] = {}
    todo: list[StagedFile] = []
    keys: dict[str, str] = {}
    for f in files:
        keys[f.path] = cache.key("sg", f.change.new_blob or "", f.path, ruleset.digest, version)
        hit = cache.get(keys[f.path])
        if hit is None:
            todo.append(f)
        else:
            matches[f.path] = hit
    status, notes = "pass", []
    if todo:
        result = run_semgrep(root, todo, ruleset, work=work, timeout_s=sp.timeout_s)
        if result.engine == "none" and result.errors:
            status = "not run"
            notes.append(f"semgrep did not run: {result.errors[0]}")
        else:
            notes.extend(f"semgrep: {e}" for e in result.errors[:5])
            for f in todo:
                found = result.matches.get(f.path, [])
                matches[f.path] = found
                if not any(f.path in e for e in result.errors):
                    cache.put(keys[f.path], found)
    findings: list[Finding] = []
    by_path = {f.path: f for f in files}
    for path, items in matches.items():
        f = by_path[path]
        for m in items:
            pre = not any(n in f.added_lines for n in range(m["line"], m["end_line"] + 1))
            sev = SEVERITY.get(m["severity"], "warning")
            block = sp.blocking and m["severity"] in sp.blocking_severities and not pre
            findings.append(Finding(gate="security", check="security.semgrep", rule=f"semgrep.{m['rule']}",
                                    file=path, line=m["line"], severity=sev, blocking=block, pre_existing=pre,
                                    message=m["message"]))  # fmt: skip
    if status == "not run":
        findings.append(Finding(gate="security", check="security.semgrep", rule="semgrep.not-run",
                                severity="error", blocking=sp.blocking, message=notes[-1]))  # fmt: skip
    return findings, status, notes


def _secrets_gate(texts: list[StagedFile], policy: PolicyConfig, cache: ResultCache, gates: dict, notes: list) -> list[Finding]:
    """detect-secrets (skipped for files no plugin could match) plus the configured patterns."""
    sp = policy.security.secrets
    if not sp.enabled:
        gates["security.secrets"] = "skipped"
        return []
    scan = [f for f in texts if not excluded(f.path, sp.exclude_paths)]
    found: list[Finding] = []
    ds = None
    if sp.detect_secrets and scan:
        try:
            ds = detect_secrets_scan(scan, sp, cache)
        except ImportError as exc:
            notes.append(f"detect-secrets unavailable ({exc}); configured patterns only")
            found.append(Finding(gate="security", check="security.secrets", rule="secret.scanner-missing",
                                 severity="error", blocking=sp.blocking, message="detect-secrets is not installed"))  # fmt: skip
    found += secret_findings(scan, sp, ds)
    gates["security.secrets"] = _status_of(found)
    return found


def _dependency_gates(repo: Path, files: list[StagedFile], policy: PolicyConfig, gates: dict, notes: list) -> list[Finding]:
    """Dependency audit (security) and licences of new dependencies (compliance)."""
    found: list[Finding] = []
    changed, added = deps_mod.changed_deps(files)
    dp = policy.security.dependencies
    if dp.enabled:
        extra = repo / dp.advisories if dp.advisories else None
        dep_f = deps_mod.dependency_findings(changed, dp, deps_mod.load_advisories(extra))
        found += dep_f
        gates["security.dependencies"] = _status_of(dep_f)
        online, note = deps_mod.online_audit(changed, dp) if changed else ("not run", "no dependency changes")
        gates["security.dependencies.online"] = online
        if note and changed:
            notes.append(note)
    else:
        gates["security.dependencies"] = "skipped"
    lp = policy.compliance.licenses
    if lp.enabled:
        lic_f, unknown = license_findings(added, lp, load_table(repo / lp.table if lp.table else None))
        found += lic_f
        status = _status_of(lic_f)
        # nothing could be checked offline: say so rather than "warn" or "pass"
        gates["compliance.licenses"] = "not run" if added and unknown == len(added) and status != "block" else status
    else:
        gates["compliance.licenses"] = "skipped"
    return found


def _status_of(findings: Iterable[Finding]) -> str:
    items = list(findings)
    if any(f.blocking and not f.overridden for f in items):
        return "block"
    if any(not f.pre_existing for f in items):
        return "warn"
    return "pass"


def _normalize_overrides(overrides: Iterable[Any]) -> list[Override]:
    out = []
    for item in overrides or ():
        out.append(item if isinstance(item, Override) else Override.model_validate(item))
    return out


def apply_overrides(findings: list[Finding], overrides: list[Override]) -> tuple[list[dict], list[str]]:
    """Mark the blocking findings each override names; return the audit records and notes."""
    records, notes = [], []
    for ov in overrides:
        matched = [f for f in findings if f.blocking and not f.overridden and ov.matches(f)]
        for f in matched:
            f.overridden = True
        records.append({"rule": ov.rule, "reason": ov.reason, "by": ov.by,
                        "matched": [f"{f.file or '-'}:{f.line or '-'}" for f in matched]})  # fmt: skip
        if not matched:
            notes.append(f"override {ov.rule!r} matched no blocking finding")
    return records, notes


def evaluate_changes(
    repo: Path,
    changes: ChangeSet,
    *,
    config: Any = None,
    target_files: list[str] | None = None,
    overrides: Iterable[Any] = (),
    actor: Literal["human", "model"] = "model",
    coverage: float | None = None,
    use_cache: bool = True,
) -> PolicyReport:
    """Run every gate on `changes` (blobs already in `repo`'s object DB) and aggregate pass/warn/block.

    `config` is an AppConfig, a PolicyConfig, a `policies:` mapping or None (defaults).
    `overrides` (Override or {rule, reason, by}) are refused unless `actor == "human"`.
    `coverage` is the percentage a verify run reported, if any.
    """
    overrides = _normalize_overrides(overrides)
    if overrides and actor != "human":
        raise PolicyViolation("a model-driven run can never override a policy finding")
    repo = Path(repo)
    policy = load_policy_config(config)
    started = time.perf_counter()
    timings: dict[str, float] = {}
    findings: list[Finding] = []
    gates: dict[str, str] = {}
    notes: list[str] = []
    cache = ResultCache(repo, enabled=use_cache)
    sec = policy.security
    with Staging(repo, changes) as st:
        timings["stage"] = time.perf_counter() - started
        texts = st.text_files()
        ruff_proc = start_ruff(st.root, texts, policy.quality.lint)
        try:
            with ThreadPoolExecutor(max_workers=1) as pool:
                # semgrep-core and ruff run as subprocesses while this thread does the Python-side gates
                sg_future = pool.submit(_semgrep_findings, st.root, st.work, texts, repo, policy, cache) if (
                    sec.semgrep.enabled and texts) else None  # fmt: skip
                t = time.perf_counter()
                findings += _secrets_gate(texts, policy, cache, gates, notes)
                timings["secrets"] = time.perf_counter() - t
                t = time.perf_counter()
                findings += _dependency_gates(repo, st.files, policy, gates, notes)
                timings["deps"] = time.perf_counter() - t
                safety = safety_findings(changes, policy.safety, target_files, st.unsafe)
                findings += safety
                gates["safety"] = _status_of(safety) if policy.safety.enabled else "skipped"
                gates["quality.coverage"], cov = coverage_findings(coverage, policy.quality.coverage)
                findings += cov
                t = time.perf_counter()
                if sg_future is not None:
                    sg_f, sg_status, sg_notes = sg_future.result()
                    findings += sg_f
                    notes += sg_notes
                    gates["security.semgrep"] = sg_status if sg_status == "not run" else _status_of(sg_f)
                else:
                    gates["security.semgrep"] = "skipped" if not sec.semgrep.enabled else "pass"
                timings["semgrep_wait"] = time.perf_counter() - t
            lint = lint_findings(ruff_proc, st.root, texts, policy.quality.lint)
        finally:
            if ruff_proc is not None and ruff_proc.poll() is None:
                ruff_proc.kill()
                ruff_proc.wait()
        findings += lint
        gates["quality.lint"] = _status_of(lint) if policy.quality.lint.enabled else "skipped"
    records, override_notes = apply_overrides(findings, overrides)
    notes += override_notes
    for check in list(gates):
        if gates[check] == "block" and not any(f.check == check and f.blocking and not f.overridden for f in findings):
            gates[check] = "warn"
    for gate in GATES:
        gates[gate] = _worst([v for k, v in gates.items() if k.split(".")[0] == gate])
    decision = "block" if any(f.blocking and not f.overridden for f in findings) else (
        "warn" if any(not f.pre_existing for f in findings) else "pass")  # fmt: skip
    timings["total"] = time.perf_counter() - started
    report = PolicyReport(decision=decision, findings=_sorted(findings), gates=dict(sorted(gates.items())),
                          overrides=records, notes=notes, timings={k: round(v, 4) for k, v in timings.items()},
                          policy_digest=policy.digest())  # fmt: skip
    if records:
        record_overrides(repo, report)
    return report


def evaluate_range(repo: Path, base: str, head: str = "HEAD", **kwargs: Any) -> PolicyReport:
    """Gate what `head` adds over `base` (before a merge or a deploy); kwargs as for evaluate_changes."""
    from runner.policy.gitchanges import diff_changeset

    return evaluate_changes(repo, diff_changeset(Path(repo), f"{base}..{head}"), **kwargs)


def _worst(statuses: list[str]) -> str:
    for s in ("block", "warn", "pass", "not run"):
        if s in statuses:
            return s
    return "skipped"


def _sorted(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (not f.blocking, f.pre_existing, f.gate, f.file or "", f.line or 0, f.rule))


def record_overrides(repo: Path, report: PolicyReport) -> Path | None:
    """Audit each applied override and write a manifest of the check, when the repo has a store (.codex/)."""
    codex = Path(repo) / ".codex"
    if not codex.is_dir():
        return None
    import json
    from datetime import datetime

    from runner.fsutil import atomic_write

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    manifest = codex / "runs" / "policy-check" / stamp / "manifest.json"
    atomic_write(manifest, json.dumps({"kind": "policy-check", "created_at": stamp, "report": report.model_dump(mode="json")},
                                      indent=2) + "\n")  # fmt: skip
    try:
        from runner.store import Store
    except ImportError:
        return manifest
    with Store.open(Path(repo)) as store:
        for record in report.overrides:
            store.audit("policy.override", actor=record.get("by") or "human",
                        details={**record, "decision": report.decision, "policy": report.policy_digest,
                                 "manifest": str(manifest.relative_to(repo))})  # fmt: skip
    return manifest
