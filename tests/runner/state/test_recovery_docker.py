"""Recovery against the real engine: a dead run's labelled container and its worktree are reaped."""

import contextlib
import subprocess
import sys
import textwrap

import pytest

from runner.state.models import Run, Task
from runner.state.recovery import recover
from runner.state.store import Store

pytestmark = pytest.mark.docker

LEAVE_WORKTREE = textwrap.dedent("""
    import os, sys, pathlib
    from sandbox.tree.worktree import WorktreeManager
    cm = WorktreeManager(pathlib.Path(sys.argv[1])).checkout(sys.argv[2])  # keep cm: its GC would release
    wt = cm.__enter__()
    print(wt.path, flush=True)
    os._exit(0)   # die holding the tree, as a SIGKILLed orchestrator would
""")


def test_dead_runs_container_and_worktree_are_reaped(repo):
    from docker.errors import NotFound

    from sandbox.docker import labels
    from sandbox.docker.client import get_client
    from sandbox.docker.images import require_image

    owner = subprocess.Popen([sys.executable, "-c", "pass"])
    owner.wait()
    with Store.open(repo) as store:
        task = store.add_task(Task(title="work"))
        run = store.start_run(Run(task_id=task.id, kind="build", pid=owner.pid))
        store.update_task(task.id, event="task.started", status="running", attempts=1)
    out = subprocess.run([sys.executable, "-c", LEAVE_WORKTREE, str(repo), run.id],
                         capture_output=True, text=True, check=True)
    from pathlib import Path

    tree = Path(out.stdout.strip())
    assert tree.is_dir()
    client = get_client()
    container = client.containers.run(
        require_image("base"), ["sleep", "300"], detach=True, network_mode="none",
        labels=labels.run_labels(repo, run.id, task.id, kind="build", pid=owner.pid),
    )
    try:
        with Store.open(repo) as store:
            line = recover(repo, store)
            assert line.startswith("recovered 1 interrupted run") and "reaped 1 container, 1 worktree" in line
            assert store.get_task(task.id).status == "pending"
        assert not any(c.id == container.id for c in client.containers.list(all=True))
        assert not tree.exists()
    finally:
        with contextlib.suppress(NotFound):
            container.remove(force=True)
