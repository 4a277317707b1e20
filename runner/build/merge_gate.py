"""The merge gate: what a task's merge brings into the integration branch, when that is not just the
gated commit.

A fast-forward lands exactly the commit the build's gate step passed. When the target moved while the
task ran, the merge commit puts the task's lines next to changes the gate never saw with them (an
import added on the target turns a task's harmless-looking call into `os.system`, say), so
evaluate_range(target tip, merge commit) runs before the target moves; a block changes nothing.
"""

from __future__ import annotations

from pathlib import Path
from runner.config.policy import PolicyConfig
from runner.errors import PolicyViolation


class MergeBlocked(PolicyViolation):
    """The merge result was blocked by the policy gates (exit 3); the target did not move."""

    def __init__(self, report, old: str, new: str):
        self.report, self.old, self.new = report, old, new
        shown = "; ".join(
            f"{f.gate}/{f.rule} {f.file or '-'}{':' + str(f.line) if f.line else ''}" for f in report.blocking[:5]
        )
        super().__init__(f"the merge into the target was blocked by the policy gates: {shown}")


def gate_merge(repo: Path, policy: PolicyConfig, base: str, old: str, new: str, *, target_files=None):
    """None when the merge lands only the gated commit (`old` is its base); else the report.

    `base` is the commit the gated change set was made against; `old` the target's tip now and `new`
    what it would become. Raises MergeBlocked on a block (a model-driven run: no overrides).
    """
    if old == base:
        return None
    from runner.policy import evaluate_range

    report = evaluate_range(Path(repo), old, new, config=policy, target_files=target_files, actor="model")
    if report.decision == "block":
        raise MergeBlocked(report, old, new)
    return report
