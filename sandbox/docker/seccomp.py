"""The project's seccomp profile: Docker's default minus io_uring and unprivileged ptrace.

The data file is derived from moby's default profile (Apache-2.0; see data/seccomp.NOTICE).
It is always passed to the engine explicitly: a sandbox never runs `unconfined`.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

PROFILE_PATH = Path(__file__).resolve().parents[1] / "data" / "seccomp.json"

# Calls that must never be allowed, whatever the upstream profile says.
FORBIDDEN = frozenset(
    {
        "io_uring_setup",
        "io_uring_enter",
        "io_uring_register",
        "ptrace",
        "process_vm_readv",
        "process_vm_writev",
        "keyctl",
        "add_key",
        "request_key",
        "unshare",
        "setns",
        "mount",
        "umount2",
        "bpf",
        "perf_event_open",
    }
)


def derive_profile(upstream: dict[str, Any]) -> dict[str, Any]:
    """Docker's default profile with every unconditional allow of a FORBIDDEN call removed."""
    rules = []
    for rule in upstream.get("syscalls", []):
        rule = {k: v for k, v in rule.items() if k != "comment"}
        needs_cap = bool(rule.get("includes", {}).get("caps"))
        names = rule["names"] if needs_cap else [n for n in rule["names"] if n not in FORBIDDEN]
        if names:
            rules.append({**rule, "names": names})
    return {**upstream, "syscalls": rules}


@lru_cache(maxsize=1)
def profile() -> dict[str, Any]:
    """The profile as data."""
    return json.loads(PROFILE_PATH.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def security_opt() -> str:
    """The `seccomp=<json>` security option (the engine wants the profile's text, not a path)."""
    return "seccomp=" + json.dumps(profile(), separators=(",", ":"))


def unconditionally_allowed() -> set[str]:
    """Syscalls the profile allows without any capability (what a sandbox can actually call)."""
    allowed: set[str] = set()
    for rule in profile()["syscalls"]:
        if rule.get("action") == "SCMP_ACT_ALLOW" and not rule.get("includes", {}).get("caps"):
            allowed.update(rule["names"])
    return allowed
