"""Walk a container-written tree by directory file descriptors: no joined paths, no symlink followed.

A hostile tree can nest past PATH_MAX or swap a directory for a symlink mid-walk; every step here is
`openat`/`fstatat` relative to a directory already open, so neither makes the walk fail or escape.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
MAX_WALK_DEPTH = 512  # one descriptor per level is open at once; deeper trees are refused at extraction


class Walk:
    """Entries under `root` as (dir_fd, name, lstat, depth); `truncated` tells whether MAX_WALK_DEPTH cut it."""

    def __init__(self, root: Path, max_depth: int = MAX_WALK_DEPTH):
        self.root = Path(root)
        self.max_depth = max_depth
        self.truncated = False

    def __iter__(self) -> Iterator[tuple[int, str, os.stat_result, int]]:
        try:
            top = os.open(self.root, DIR_FLAGS)
        except OSError:
            return
        stack = [(top, os.scandir(top), 0)]
        try:
            while stack:
                fd, entries, depth = stack[-1]
                entry = next(entries, None)
                if entry is None:
                    entries.close()
                    os.close(fd)
                    stack.pop()
                    continue
                try:
                    st = os.stat(entry.name, dir_fd=fd, follow_symlinks=False)
                except OSError:
                    continue
                yield fd, entry.name, st, depth
                if not stat.S_ISDIR(st.st_mode):
                    continue
                if depth + 1 >= self.max_depth:
                    self.truncated = True
                    continue
                try:
                    child = os.open(entry.name, DIR_FLAGS, dir_fd=fd)
                except OSError:  # replaced by a symlink or removed meanwhile
                    continue
                stack.append((child, os.scandir(child), depth + 1))
        finally:
            for fd, entries, _ in stack:
                entries.close()
                os.close(fd)
