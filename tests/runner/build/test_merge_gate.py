"""The merge gate: a fast-forward lands only the gated commit; a merge that mixes in the target's new
changes is gated again before the target moves, and a block leaves the target as it was."""

from __future__ import annotations

import pytest

from runner.build.merge_gate import MergeBlocked, gate_merge
from runner.policy import evaluate_range
from sandbox.git.integrate import merge_branch
from tests.conftest import git

TOOLS = "def clean(name):\n    return name.strip()\n"


def _task_commit(repo) -> tuple[str, str]:
    """A task branch whose one commit passes the gates on its own: a call to a local helper."""
    (repo / "tools.py").write_text(TOOLS)
    git(repo, "add", "tools.py")
    git(repo, "commit", "-q", "-m", "tools")
    base = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "-b", "codex/t1")
    (repo / "tools.py").write_text(TOOLS + "\n\ndef run(cmd):\n    return run_cmd(cmd)\n")
    git(repo, "commit", "-qam", "task: run")
    git(repo, "checkout", "-q", "main")
    return base, git(repo, "rev-parse", "codex/t1")


def test_a_merge_that_mixes_in_other_changes_is_gated_before_the_target_moves(repo):
    base, task = _task_commit(repo)
    assert evaluate_range(repo, base, task).decision != "block"  # what the build's gate step saw
    # Meanwhile a human adds an import on main: together with the task's call it is os.system(cmd).
    (repo / "tools.py").write_text("from os import system as run_cmd\n\n" + TOOLS)
    git(repo, "commit", "-qam", "import")
    human = git(repo, "rev-parse", "main")
    with pytest.raises(MergeBlocked) as blocked:
        merge_branch(repo, "codex/t1", "main", message="Merge codex/t1",
                     before_update=lambda old, new: gate_merge(repo, None, base, old, new))  # fmt: skip
    assert blocked.value.exit_code == 3 and blocked.value.old == human
    assert [f.rule for f in blocked.value.report.blocking] == ["semgrep.python-os-system"]
    assert git(repo, "rev-parse", "main") == human  # the target did not move
    assert "run_cmd(cmd)" not in (repo / "tools.py").read_text()  # nor did the checked-out files
    assert git(repo, "status", "--porcelain") == ""


def test_a_fast_forward_lands_only_the_gated_commit_and_is_not_gated_again(repo):
    base, task = _task_commit(repo)
    seen = []

    def gate(old, new):
        seen.append(gate_merge(repo, None, base, old, new))

    result = merge_branch(repo, "codex/t1", "main", message="Merge codex/t1", before_update=gate)
    assert result.fast_forward and result.commit == task and seen == [None]
