"""Workspace ownership when the host user is root: lend the tree to the sandbox uid, then take it back.

Both walks go by directory descriptors (`fstatat`/`fchownat`, never a joined path, never through a
symlink), so a hostile tree cannot make us chown anything outside it, nor fail us by nesting past
PATH_MAX (the container is gone before `hand_back` runs).
"""

from __future__ import annotations

import os
from pathlib import Path

from sandbox.fdwalk import Walk


def is_root_host() -> bool:
    return os.geteuid() == 0


def _chown_tree(root: Path, uid: int, gid: int, *, skip_top_git: bool, since_ns: int = 0) -> int:
    changed = 0
    st = os.lstat(root)
    if (st.st_uid, st.st_gid) != (uid, gid) and st.st_ctime_ns >= since_ns:
        os.chown(root, uid, gid, follow_symlinks=False)
        changed += 1
    for dir_fd, name, st, depth in Walk(root):
        if skip_top_git and depth == 0 and name == ".git":
            continue
        if (st.st_uid, st.st_gid) != (uid, gid) and st.st_ctime_ns >= since_ns:
            try:
                os.chown(name, uid, gid, dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            changed += 1
    return changed


def hand_over(workspace: Path, uid: int, gid: int) -> int:
    """Give the tree (but not its `.git` pointer) to the sandbox uid; returns entries changed.

    A tree whose top directory already belongs to the sandbox uid was prepared for it (the worktree
    pool writes its trees with that owner), so the walk is skipped: it costs ~10 µs per file.
    """
    st = os.lstat(workspace)
    if (st.st_uid, st.st_gid) == (uid, gid):
        return 0
    return _chown_tree(Path(workspace), uid, gid, skip_top_git=True)


def hand_back(workspace: Path, uid: int, gid: int, since_ns: int = 0) -> int:
    """Give what changed since `since_ns` (ctime, which a container cannot forge) back to the host user.

    Untouched entries keep their owner and ctime, so a pooled tree's stat record stays valid.
    """
    if not os.path.lexists(workspace) or os.path.islink(workspace):
        return 0
    return _chown_tree(Path(workspace), uid, gid, skip_top_git=False, since_ns=since_ns)
