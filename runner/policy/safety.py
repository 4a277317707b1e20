"""The safety gate: size of the change, prohibited paths, target files, binary files."""

from __future__ import annotations

import fnmatch
from pathlib import PurePosixPath

from runner.config.policy import SafetyPolicy
from runner.policy.models import Finding
from sandbox.changeset import ChangeSet


def path_matches(path: str, pattern: str) -> bool:
    """Glob match: a pattern without '/' matches the basename; `**/x` also matches `x` at the root."""
    pattern = pattern.strip()
    if not pattern:
        return False
    if "/" not in pattern.rstrip("/"):
        name = PurePosixPath(path).name
        return fnmatch.fnmatch(name, pattern) or fnmatch.fnmatch(path, pattern)
    if pattern.endswith("/"):
        pattern += "**"
    candidates = [pattern]
    if pattern.startswith("**/"):
        candidates.append(pattern[3:])
    return any(fnmatch.fnmatch(path, p) for p in candidates)


def in_targets(path: str, targets: list[str]) -> bool:
    """A path is inside the targets if one names it, a directory holding it, or a glob matching it."""
    for target in targets:
        t = target.strip()
        t = t.removeprefix("./")
        if not t:
            continue
        if path == t or path.startswith(t.rstrip("/") + "/") or fnmatch.fnmatch(path, t):
            return True
    return False


def safety_findings(
    changes: ChangeSet, policy: SafetyPolicy, target_files: list[str] | None, unsafe_paths: list[str]
) -> list[Finding]:
    """Every breached limit, one finding each."""
    if not policy.enabled:
        return []
    blocking = policy.blocking
    out: list[Finding] = []

    def add(rule: str, message: str, file: str | None = None, block: bool = blocking) -> None:
        out.append(
            Finding(gate="safety", check="safety", rule=rule, file=file, severity="error" if block else "warning",
                    message=message, blocking=block)
        )

    for path in unsafe_paths:
        add("safety.unsafe-path", "path escapes the repository", path, True)
    if len(changes.files) > policy.max_files:
        add("safety.max-files", f"{len(changes.files)} files changed; the limit is {policy.max_files}")
    lines = changes.lines_added + changes.lines_removed
    if lines > policy.max_diff_lines:
        add("safety.max-diff-lines", f"{lines} diff lines; the limit is {policy.max_diff_lines}")
    for change in changes.files:
        hit = next((g for g in policy.prohibited_paths if path_matches(change.path, g)), None)
        if hit:
            add("safety.prohibited-path", f"{change.status} a prohibited path (matches {hit!r})", change.path)
        if target_files and policy.restrict_to_target_files and not in_targets(change.path, target_files):
            add("safety.outside-target-files", f"{change.status} outside the task's target files", change.path)
        if change.binary and change.status != "deleted" and not policy.allow_binary:
            block = blocking and policy.binary_blocking
            add("safety.binary-file", f"binary file {change.status} ({change.size} bytes)", change.path, block)
        if change.new_mode == "120000":
            add("safety.symlink", "symbolic link in the change", change.path, False)
    return out
