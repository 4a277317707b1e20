"""`reap` removes containers whose owner died (by label), keeps live ones, and lists what it removed."""

from __future__ import annotations

import contextlib
import os
import subprocess

import pytest
from docker.errors import NotFound
from tests.sandbox.sandbox_images import probe_image

from sandbox.docker import labels as lbl
from sandbox.gc import list_sandboxes, reap
from sandbox.procutil import pid_alive

pytestmark = pytest.mark.docker


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _create(repo, run_id: str, pid: int):
    from sandbox.docker.client import get_client

    labels = lbl.run_labels(repo, run_id, kind="sandbox", pid=pid)
    return get_client().containers.create(
        probe_image(), ["sleep", "30"], labels=labels, name=f"gc-test-{run_id}"
    )


def test_pid_alive():
    assert pid_alive(os.getpid())
    assert not pid_alive(_dead_pid())
    assert not pid_alive(0)


def test_reap_removes_orphans_and_keeps_live_runs(repo, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    dead = _create(repo, "gc-dead", _dead_pid())
    live = _create(repo, "gc-live", os.getpid())
    foreign = _create(other, "gc-foreign", _dead_pid())
    try:
        rows = {r["run"]: r for r in list_sandboxes(repo)}
        assert set(rows) == {"gc-dead", "gc-live"}
        assert rows["gc-live"]["owner_alive"] and not rows["gc-dead"]["owner_alive"]
        report = reap(repo)
        assert report.containers == [dead.name]
        assert {r["run"] for r in list_sandboxes(repo)} == {"gc-live"}
        assert {r["run"] for r in list_sandboxes(other)} == {
            "gc-foreign"
        }  # another repo's orphan is not ours
        assert reap(repo, include_live=True).containers == [live.name]
        assert reap(repo).containers == []
    finally:
        for c in (dead, live, foreign):
            with contextlib.suppress(NotFound):  # most were removed by the test
                c.remove(force=True)
