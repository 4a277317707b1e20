"""The deploy gate: the policy engine over what a deploy ships that no earlier deploy gate has seen.

Base: the newest commit that passed a deploy gate for this environment, else for any environment
(so `deploy prod` after `deploy staging` of the same commit checks an empty diff), else the empty
tree (a first deploy checks the whole tree; the engine caches by blob, so later checks are cheap).
The per-change size limits and the binary-file rule measure one task's change, not a release: they
are lifted here; `deploy.policies` is merged over `policies:` for deploys only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runner.errors import PolicyViolation

GATED_EVENT = "deploy.gated"
# A release is not a task's change: no size limit, binaries (images, fonts) allowed.
DEPLOY_OVERLAY = {"safety": {"max_files": 10**9, "max_diff_lines": 10**9, "allow_binary": True}}


class DeployBlocked(PolicyViolation):
    """The deploy gate blocked a commit (exit 3); carries the report for rendering."""

    def __init__(self, env: str, commit: str, base: str, report):
        self.env, self.commit, self.base, self.report = env, commit, base, report
        shown = "; ".join(
            f"{f.rule} {f.file or '-'}{':' + str(f.line) if f.line else ''}" for f in report.blocking[:5]
        )
        more = f" (+{len(report.blocking) - 5} more)" if len(report.blocking) > 5 else ""
        super().__init__(
            f"deploy of {commit[:12]} to {env} blocked by the policy gates: {shown}{more}; "
            "nothing was deployed (a human may pass a finding with --override RULE --reason \"...\")"
        )


def gate_base(store, env: str, repo: Path | None = None) -> str:
    """The commit the gate diffs against (see the module doc); EMPTY_TREE for a first deploy."""
    from runner.policy.gitchanges import EMPTY_TREE

    if store is None:
        return EMPTY_TREE
    passed = [e for e in store.audit_events(event=GATED_EVENT) if (e.details or {}).get("decision") != "block"]
    for events in ([e for e in passed if e.details.get("env") == env], passed):
        for event in reversed(events):
            if repo is None or _exists(repo, event.details["commit"]):
                return event.details["commit"]
    return EMPTY_TREE


def _exists(repo: Path, sha: str) -> bool:
    """A gated commit may be gone (history rewritten): then it cannot be a base."""
    import subprocess

    proc = subprocess.run(["git", "-C", str(repo), "cat-file", "-e", f"{sha}^{{commit}}"], capture_output=True, check=False)
    return proc.returncode == 0


def verified_coverage(store, sha: str) -> float | None:
    """Coverage the newest verify run of `sha` reported, for the quality gate."""
    if store is None:
        return None
    runs = [r for r in store.list_runs(kind="verify") if r.commit == sha and r.finished_at]
    runs.sort(key=lambda r: r.started_at)
    return (runs[-1].details or {}).get("coverage") if runs else None


def run_gate(
    repo: Path,
    sha: str,
    base: str,
    *,
    policies: Any = None,
    overlay: dict | None = None,
    overrides: list = (),
    coverage: float | None = None,
    actor: str = "human",
):
    """evaluate_range(base, sha) with the deploy overlay; overrides only ever come from a human."""
    from runner.dictutil import deep_merge
    from runner.policy import evaluate_range, load_policy_config

    policy = load_policy_config(policies, overlay=deep_merge(DEPLOY_OVERLAY, overlay or {}))
    return evaluate_range(
        Path(repo), base, sha, config=policy, overrides=list(overrides), actor=actor, coverage=coverage
    )


def gate_record(env: str, sha: str, base: str, report) -> dict[str, Any]:
    """What the audit log and the deploy run keep of one gate run."""
    from runner.policy.gitchanges import EMPTY_TREE

    return {
        "env": env,
        "commit": sha,
        "base": None if base == EMPTY_TREE else base,
        "decision": report.decision,
        "summary": report.summary(),
        "gates": report.gates,
        "blocking": [f.model_dump(include={"rule", "file", "line", "message"}) for f in report.blocking[:50]],
        "overrides": report.overrides,
        "seconds": report.timings.get("total"),
    }
