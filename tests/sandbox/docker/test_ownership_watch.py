"""Ownership hand-over/back never follows symlinks; the disk watcher measures growth and stops past the cap."""

from __future__ import annotations

import os
import threading
import time

import pytest

from sandbox.docker.ownership import hand_back, hand_over
from sandbox.docker.watch import DiskWatcher, tree_bytes

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another uid needs root")


@root_only
def test_hand_over_and_back_do_not_follow_symlinks(tmp_path):
    ws, outside = tmp_path / "ws", tmp_path / "outside"
    ws.mkdir()
    outside.mkdir()
    (outside / "secret").write_text("x")
    (ws / "sub").mkdir()
    (ws / "sub" / "f").write_text("y")
    (ws / ".git").write_text("gitdir: elsewhere\n")
    os.symlink(outside, ws / "dirlink")
    os.symlink(outside / "secret", ws / "filelink")
    assert hand_over(ws, 1000, 1000) == 5  # ws, sub, sub/f and the two links themselves; not .git
    assert os.lstat(ws / ".git").st_uid == 0
    assert os.lstat(outside).st_uid == 0 and os.lstat(outside / "secret").st_uid == 0
    assert os.lstat(ws / "dirlink").st_uid == 1000
    assert hand_over(ws, 1000, 1000) == 0  # already lent: the walk is skipped
    since = time.time_ns() - 50_000_000
    (ws / "sub" / "new").write_text("z")
    os.chown(ws / "sub" / "new", 1000, 1000)
    changed = hand_back(ws, 0, 0, since)
    assert changed >= 1 and os.lstat(ws / "sub" / "new").st_uid == 0
    hand_back(ws, 0, 0)
    assert all(
        os.lstat(p).st_uid == 0 for p in (ws, ws / "sub", ws / "sub" / "f", ws / "dirlink", ws / "filelink")
    )
    assert os.lstat(outside).st_uid == 0


def test_tree_bytes_counts_hard_links_once_and_has_a_budget(tmp_path):
    (tmp_path / "a").write_bytes(b"x" * 100_000)
    os.link(tmp_path / "a", tmp_path / "b")
    os.symlink("/usr", tmp_path / "link")
    size = tree_bytes(tmp_path)
    assert 100_000 <= size < 200_000
    assert tree_bytes(tmp_path, budget=1) is None
    stop = threading.Event()
    stop.set()
    for i in range(600):
        (tmp_path / f"f{i}").touch()
    assert tree_bytes(tmp_path, stop=stop) == -1


def test_disk_watcher_fires_past_the_cap(tmp_path):
    fired = threading.Event()
    watcher = DiskWatcher(tmp_path, 1024 * 1024, on_exceed=fired.set)
    watcher.start()
    time.sleep(0.2)
    (tmp_path / "big").write_bytes(os.urandom(3 * 1024 * 1024))
    assert fired.wait(5) and watcher.exceeded
    watcher.stop()


def _deep_chain(top, levels: int = 70, width: int = 200) -> None:
    """A chain of long directory names far past PATH_MAX, built by descriptors as a container could."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for i in range(levels):
            name = f"{i:03d}" + "d" * (width - 3)
            os.mkdir(name, dir_fd=fd)
            child = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
        leaf = os.open("leaf.bin", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(leaf, b"x" * 65536)
        os.close(leaf)
    finally:
        os.close(fd)


@root_only
def test_walks_past_path_max_work_by_descriptor(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    _deep_chain(ws)
    for _ in range(2):  # lend then take back: every level and the leaf, no "File name too long"
        assert hand_back(ws, 1000, 1000) == 72
        assert hand_back(ws, 0, 0) == 72
    assert tree_bytes(ws) >= 65536  # the leaf 14 KB deep is measured, not skipped


def test_extraction_of_a_tree_past_path_max_is_a_clean_refusal(repo):
    from sandbox.errors import HostileTreeError
    from sandbox.tree.extract import extract_changes
    from sandbox.tree.worktree import WorktreeManager

    with WorktreeManager(repo, pool_size=0).checkout("deep") as wt:
        _deep_chain(wt.path)
        with pytest.raises(HostileTreeError) as info:
            extract_changes(wt)
    assert "deep" in info.value.reason or "depth" in info.value.reason or "long" in info.value.reason
