"""The policy engine: security, quality, safety and compliance gates on a change set.

Names are imported on first use: loading the configuration (which every command does) needs only the
section model in `runner.config.policy`, not the engine and its scanners.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_WHERE = {
    "PolicyConfig": "runner.config.policy",
    "load_policy_config": "runner.config.policy",
    "evaluate_changes": "runner.policy.engine",
    "evaluate_range": "runner.policy.engine",
    "Finding": "runner.policy.models",
    "Override": "runner.policy.models",
    "PolicyReport": "runner.policy.models",
}

__all__ = ["Finding", "Override", "PolicyConfig", "PolicyReport", "evaluate_changes", "evaluate_range", "load_policy_config"]

if TYPE_CHECKING:
    from runner.config.policy import PolicyConfig, load_policy_config
    from runner.policy.engine import evaluate_changes, evaluate_range
    from runner.policy.models import Finding, Override, PolicyReport


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'runner.policy' has no attribute {name!r}")
