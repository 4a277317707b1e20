"""evaluate_changes: the one call that gates a change set before it is committed, merged or deployed.

Blobs are read from the object DB and written once to a temp dir; semgrep-core and ruff run as
subprocesses while detect-secrets (the slowest import) runs in this process, side by side.
No check passes without running: a missing, crashing or silent tool makes its check `not run` with a
finding that says why, and a check with nothing to look at is `not run` with the reason.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from runner.errors import PolicyViolation, RunnerError
from runner.policy import deps as deps_mod
from runner.policy.blobs import StagedFile, Staging
from runner.policy.cache import ResultCache
from runner.config.policy import (
    BUILTIN_RULES_DIR,
    DependencyPolicy,
    LicensePolicy,
    PolicyConfig,
    load_policy_config,
)
from runner.policy.licenses import license_check, load_table
from runner.policy.models import CheckRun, Finding, Override, PolicyReport
from runner.policy.quality import coverage_check, lint_check, start_ruff
from runner.policy.safety import safety_findings
from runner.policy.secrets_scan import detect_secrets_scan, excluded, secret_findings
from runner.policy.semgrep_runner import RuleSet, load_rules, run_semgrep, scannable
from runner.policy.trust import trust_findings
from sandbox.changeset import ChangeSet
from sandbox.tools import find_module, missing_reason

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


def _semgrep_check(root: Path, work: Path, texts: list[StagedFile], repo: Path, policy: PolicyConfig,
                   cache: ResultCache) -> CheckRun:  # fmt: skip
    """Semgrep over the files some rule applies to, those already cached for this blob + rules hash excepted."""
    sp = policy.security.semgrep
    if not sp.enabled:
        return CheckRun.skipped()
    if not texts:
        return CheckRun.idle("no changed text file")
    ruleset = policy_rules(repo, policy)
    if not ruleset.rules:
        return CheckRun.idle("no semgrep rules (builtin_rules is off and no rules are configured)")
    files = scannable(texts, ruleset)
    if not files:
        return CheckRun.idle("no changed text file in a language the rules cover")
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
    notes: list[str] = []
    failure, unscanned = "", []
    if todo:
        result = run_semgrep(root, todo, ruleset, work=work, timeout_s=sp.timeout_s)
        if result.engine == "none":
            failure = result.errors[0] if result.errors else "no semgrep engine answered"
        else:
            notes.extend(f"semgrep: {e}" for e in result.errors[:5])
            unscanned = result.unscanned
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
    if failure:
        return CheckRun.not_run("security", "security.semgrep", "semgrep.not-run", failure, sp.blocking, findings)
    if unscanned:  # a file the engine gave up on was not checked: one finding each, the check did not run
        why = f"semgrep gave up on {len(unscanned)} file(s) (timeout or memory): {', '.join(unscanned[:5])}"
        findings += [Finding(gate="security", check="security.semgrep", rule="semgrep.not-run", file=path,
                             severity="error" if sp.blocking else "warning", blocking=sp.blocking,
                             message="semgrep gave up on this file (timeout or memory); it was not checked")
                     for path in unscanned]  # fmt: skip
        return CheckRun(findings, status="not run", why=why, failed=True, notes=notes)
    return CheckRun(findings, notes=notes)


def _secrets_check(texts: list[StagedFile], policy: PolicyConfig, cache: ResultCache) -> CheckRun:
    """detect-secrets (skipped for files no plugin could match) plus the configured patterns."""
    sp = policy.security.secrets
    if not sp.enabled:
        return CheckRun.skipped()
    scan = [f for f in texts if not excluded(f.path, sp.exclude_paths)]
    if not scan:
        return CheckRun.idle("no text file to scan" + (" (every one is in exclude_paths)" if texts else ""))
    if not sp.detect_secrets and not sp.patterns:
        return CheckRun.idle("no scanner configured (detect_secrets is off and there are no patterns)")
    ds, why, rule = None, "", "secret.scanner-missing"
    if sp.detect_secrets:
        if not find_module("detect-secrets", "detect_secrets"):
            why = missing_reason("detect-secrets", "detect_secrets")
        else:
            try:
                ds = detect_secrets_scan(scan, sp, cache)
            except ImportError as exc:
                why = f"detect-secrets could not be imported ({exc})"
            except Exception as exc:  # noqa: BLE001 - the patterns still run; the check says it did not
                why, rule = f"detect-secrets failed: {type(exc).__name__}: {exc}", "secret.scanner-failed"
    found = secret_findings(scan, sp, ds)
    if why:
        return CheckRun.not_run("security", "security.secrets", rule, f"{why}; configured patterns only",
                                sp.blocking, found)  # fmt: skip
    return CheckRun(found)


def _offline_check(repo: Path, changes: deps_mod.DepChanges, dp: DependencyPolicy) -> CheckRun:
    extra = repo / dp.advisories if dp.advisories else None
    return deps_mod.dependency_check(changes, dp, deps_mod.load_advisories(extra) if dp.enabled else [])


def _license_check(repo: Path, changes: deps_mod.DepChanges, lp: LicensePolicy) -> CheckRun:
    if not lp.enabled:
        return CheckRun.skipped()
    return license_check(changes.added, lp, load_table(repo / lp.table if lp.table else None))


def _online_check(changes: deps_mod.DepChanges, dp: DependencyPolicy) -> CheckRun:
    if not dp.enabled:
        return CheckRun.skipped()
    if not changes.changed:
        return CheckRun.idle("no dependency added or changed")
    return deps_mod.online_audit(changes.changed, dp)


def _dependency_runs(repo: Path, files: list[StagedFile], policy: PolicyConfig) -> dict[str, CheckRun]:
    """Dependency audit, offline and online (security), and licences of new dependencies (compliance)."""
    dp, lp = policy.security.dependencies, policy.compliance.licenses
    try:
        changes = deps_mod.changed_deps(files)
    except Exception as exc:  # noqa: BLE001 - recorded as `not run` with a finding, never a "pass"
        return {check: _crashed(check, blocking, exc) if enabled else CheckRun.skipped()
                for check, enabled, blocking in (("security.dependencies", dp.enabled, dp.blocking),
                                                 ("security.dependencies.online", dp.enabled, dp.blocking),
                                                 ("compliance.licenses", lp.enabled, lp.blocking))}  # fmt: skip
    return {
        "security.dependencies": _guard("security.dependencies", dp.blocking, _offline_check, repo, changes, dp),
        "security.dependencies.online": _guard("security.dependencies.online", dp.blocking, _online_check, changes, dp),
        "compliance.licenses": _guard("compliance.licenses", lp.blocking, _license_check, repo, changes, lp),
    }


NOT_RUN_RULE = {"security.secrets": "secret.not-run", "security.semgrep": "semgrep.not-run",
                "security.dependencies": "deps.not-run", "security.dependencies.online": "deps.audit-not-run",
                "quality.lint": "lint.not-run", "compliance.licenses": "license.not-run", "safety": "safety.not-run",
                "security.trust": "trust.not-run"}  # fmt: skip


def _crashed(check: str, blocking: bool, exc: Exception) -> CheckRun:
    why = f"crashed: {type(exc).__name__}: {exc}"
    return CheckRun.not_run(check.split(".")[0], check, NOT_RUN_RULE[check], why, blocking)


def _guard(check: str, blocking: bool, fn: Any, *args: Any) -> CheckRun:
    """Run one check; a check that crashed did not run, and says why (a bad config still raises)."""
    try:
        return fn(*args)
    except RunnerError:
        raise
    except Exception as exc:  # noqa: BLE001 - recorded as `not run` with a finding, never a "pass"
        return _crashed(check, blocking, exc)


def _safety_check(changes: ChangeSet, policy: PolicyConfig, target_files: list[str] | None,
                  unsafe: list[str]) -> CheckRun:  # fmt: skip
    if not policy.safety.enabled:
        return CheckRun.skipped()
    return CheckRun(safety_findings(changes, policy.safety, target_files, unsafe))


def _trust_check(repo: Path, changes: ChangeSet, files: list[StagedFile], policy: PolicyConfig,
                 target_files: list[str] | None) -> CheckRun:  # fmt: skip
    if not policy.security.trust.enabled:
        return CheckRun.skipped()
    if all(c.status == "deleted" for c in changes.files):
        return CheckRun.idle("no path added or changed")  # removing files makes no directory a repository
    return CheckRun(trust_findings(repo, changes, files, policy.security.trust, target_files))


def gate_status(gate: str, checks: dict[str, str], runs: dict[str, CheckRun], findings: list[Finding]) -> str:
    """One gate from its checks: block > not run > warn > pass.

    A check that could not run (its tool missing or failing) keeps its gate from reading `pass` or
    `warn`; one that had nothing to look at (no Python file, no dependency change) does not count. A
    gate whose checks all had nothing to look at is `not run`; one whose checks are all off is `skipped`.
    """
    mine = {c: s for c, s in checks.items() if c.split(".")[0] == gate and c in runs}
    counted = {s for c, s in mine.items() if not (s == "not run" and not runs[c].failed)}
    if "block" in counted or any(f.gate == gate and f.blocking and not f.overridden for f in findings):
        return "block"
    for status in ("not run", "warn", "pass"):
        if status in counted:
            return status
    return "not run" if "not run" in mine.values() else "skipped"


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
    config: PolicyConfig | dict[str, Any] | None = None,
    target_files: list[str] | None = None,
    overrides: Iterable[Any] = (),
    actor: Literal["human", "model"] = "model",
    coverage: float | None = None,
    use_cache: bool = True,
) -> PolicyReport:
    """Run every gate on `changes` (blobs already in `repo`'s object DB) and aggregate pass/warn/block.

    `config` is the config's PolicyConfig, a `policies:` mapping or None (defaults).
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
    runs: dict[str, CheckRun] = {}
    cache = ResultCache(repo, enabled=use_cache)
    sec, lint_policy = policy.security, policy.quality.lint
    with Staging(repo, changes) as st:
        timings["stage"] = time.perf_counter() - started
        texts = st.text_files()
        ruff = start_ruff(st.root, texts, lint_policy)
        try:
            with ThreadPoolExecutor(max_workers=1) as pool:
                # semgrep-core and ruff run as subprocesses while this thread does the Python-side gates
                sg_future = pool.submit(_guard, "security.semgrep", sec.semgrep.blocking, _semgrep_check,
                                        st.root, st.work, texts, repo, policy, cache)  # fmt: skip
                t = time.perf_counter()
                runs["security.secrets"] = _guard("security.secrets", sec.secrets.blocking, _secrets_check,
                                                  texts, policy, cache)  # fmt: skip
                timings["secrets"] = time.perf_counter() - t
                t = time.perf_counter()
                runs.update(_dependency_runs(repo, st.files, policy))
                timings["deps"] = time.perf_counter() - t
                runs["safety"] = _guard("safety", policy.safety.blocking, _safety_check, changes, policy,
                                        target_files, st.unsafe)  # fmt: skip
                runs["security.trust"] = _guard("security.trust", sec.trust.blocking, _trust_check, repo, changes,
                                                st.files, policy, target_files)  # fmt: skip
                runs["quality.coverage"] = coverage_check(coverage, policy.quality.coverage)
                t = time.perf_counter()
                runs["security.semgrep"] = sg_future.result()
                timings["semgrep_wait"] = time.perf_counter() - t
            runs["quality.lint"] = _guard("quality.lint", lint_policy.blocking, lint_check, ruff, st.root, texts,
                                          lint_policy)  # fmt: skip
        finally:
            ruff.stop()
    findings = [f for run in runs.values() for f in run.findings]
    notes = [n for run in runs.values() for n in run.notes]
    records, override_notes = apply_overrides(findings, overrides)
    notes += override_notes
    gates = {check: run.result for check, run in runs.items()}
    for check in list(gates):
        if gates[check] == "block" and not any(f.check == check and f.blocking and not f.overridden for f in findings):
            gates[check] = "warn"
    for gate in GATES:
        gates[gate] = gate_status(gate, gates, runs, findings)
    decision = "block" if any(f.blocking and not f.overridden for f in findings) else (
        "warn" if any(not f.pre_existing for f in findings) else "pass")  # fmt: skip
    timings["total"] = time.perf_counter() - started
    report = PolicyReport(decision=decision, findings=_sorted(findings), gates=dict(sorted(gates.items())),
                          not_run={c: r.why for c, r in sorted(runs.items()) if r.status == "not run"},
                          overrides=records, notes=notes, timings={k: round(v, 4) for k, v in timings.items()},
                          policy_digest=policy.digest())  # fmt: skip
    if records:
        record_overrides(repo, report)
    return report


class PolicyGate:
    """The gates as one object: repository and policy fixed, a change set in, the aggregated report out."""

    def __init__(self, repo: Path, policy: PolicyConfig, *, actor: Literal["human", "model"] = "model"):
        self.repo, self.policy, self.actor = Path(repo), policy, actor

    def evaluate(self, changes: ChangeSet, *, target_files: list[str] | None = None) -> PolicyReport:
        """Every gate on `changes` (blobs already in the repository's object DB)."""
        return evaluate_changes(self.repo, changes, config=self.policy, target_files=target_files, actor=self.actor)


def evaluate_range(repo: Path, base: str, head: str = "HEAD", **kwargs: Any) -> PolicyReport:
    """Gate what `head` adds over `base` (before a merge or a deploy); kwargs as for evaluate_changes."""
    from runner.policy.gitchanges import diff_changeset

    return evaluate_changes(repo, diff_changeset(Path(repo), f"{base}..{head}"), **kwargs)


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
        from runner.state.store import Store
    except ImportError:
        return manifest
    with Store.open(Path(repo)) as store:
        for record in report.overrides:
            store.audit("policy.override", actor=record.get("by") or "human",
                        details={**record, "decision": report.decision, "policy": report.policy_digest,
                                 "manifest": str(manifest.relative_to(repo))})  # fmt: skip
    return manifest
