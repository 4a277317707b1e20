"""The policy engine: security, quality, safety and compliance gates on a change set."""

from runner.policy.config import PolicyConfig, load_policy_config
from runner.policy.engine import evaluate_changes, evaluate_range
from runner.policy.models import Finding, Override, PolicyReport

__all__ = ["Finding", "Override", "PolicyConfig", "PolicyReport", "evaluate_changes", "evaluate_range", "load_policy_config"]
