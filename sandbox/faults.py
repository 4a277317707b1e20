"""Fault injection for crash tests: kill this process at a named step (off unless the variable is set).

`CODEX_SANDBOX_FAULT=move.checked-out` makes the process SIGKILL itself when it reaches that step,
so a test can stop a multi-step operation at every step in turn instead of hoping a timer lands there.
"""

from __future__ import annotations

import os
import signal

FAULT_ENV = "CODEX_SANDBOX_FAULT"

# Every named step, in the order one build reaches them; tests walk this list.
STEPS = (
    "commit.object-written",   # commit object exists, task branch not moved
    "commit.ref-updated",      # task branch moved
    "build.committed",         # commit audited, merge not started
    "merge.commit-written",    # merge commit object exists (non-fast-forward), target not moved
    "move.journaled",          # intent durable, checkout untouched
    "move.checked-out",        # checkout and index at the new commit, branch still at the old one
    "move.ref-updated",        # branch moved, journal not yet removed
    "build.merged",            # merged, task and run rows not yet updated
)


def fault_point(name: str) -> None:
    """SIGKILL this process if the fault variable names this step (a comma-separated list is allowed)."""
    wanted = os.environ.get(FAULT_ENV)
    if wanted and name in wanted.split(","):
        os.kill(os.getpid(), signal.SIGKILL)
