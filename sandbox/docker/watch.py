"""Disk-cap watcher: a bind mount has no quota here, so poll the workspace size and stop the run past the cap."""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sandbox.fdwalk import Walk

MIN_INTERVAL_S = 1.0
MAX_ENTRIES = 500_000  # past this many entries the tree counts as over the cap (a file-count bomb)


def tree_bytes(root: Path, budget: int = MAX_ENTRIES, stop: threading.Event | None = None) -> int | None:
    """Allocated bytes under `root` (by descriptors: no symlink followed, no PATH_MAX limit; hard links once);
    None past `budget` entries or past the walk's depth limit (both count as over the cap).

    Returns -1 as soon as `stop` is set (a short run should not wait for a walk of a large tree).
    """
    total = 0
    seen: set[tuple[int, int]] = set()
    walk = Walk(root)
    for count, (_fd, _name, st, _depth) in enumerate(walk, 1):
        if count > budget:
            return None
        if stop is not None and count % 512 == 0 and stop.is_set():
            return -1
        if st.st_nlink > 1 and not stat.S_ISDIR(st.st_mode):
            key = (st.st_dev, st.st_ino)
            if key in seen:
                continue
            seen.add(key)
        total += st.st_blocks * 512
    return None if walk.truncated else total


FULL_MARGIN = 1024 * 1024  # a capped filesystem with less free than this has hit its cap
FS_INTERVAL_S = 0.1


class DiskWatcher:
    """Tells when a run reached its disk cap and stops it.

    A workspace that is its own (capped) filesystem cannot outgrow it: the kernel refuses the write,
    and this only notices that the filesystem is full, from statvfs (unlinked files included). Any
    other workspace is walked about once a second (less often when a walk is slow): a poll, after the fact.
    """

    def __init__(self, root: Path | None, cap_bytes: int, on_exceed: Callable[[], None]):
        self.root = root
        self.cap = cap_bytes
        self.on_exceed = on_exceed
        self.exceeded = False
        self.own_fs = root is not None and os.path.ismount(root)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run_fs if self.own_fs else self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop watching; on a capped filesystem, a run that ended exactly at the cap counts as over it."""
        self._stop.set()
        if self.own_fs and not self.exceeded and self._full():
            self.exceeded = True

    def _full(self) -> bool:
        try:
            st = os.statvfs(self.root)
        except OSError:
            return False
        return st.f_bavail * st.f_frsize < FULL_MARGIN

    def _run_fs(self) -> None:
        while not self._stop.wait(FS_INTERVAL_S):
            if self._full():
                self.exceeded = True
                self.on_exceed()
                return

    def _run(self) -> None:
        baseline = tree_bytes(self.root, stop=self._stop)
        if baseline is None:
            baseline = 0
        while not self._stop.wait(self._interval):
            t0 = time.monotonic()
            size = tree_bytes(self.root, stop=self._stop)
            self._walk_s = time.monotonic() - t0
            if self._stop.is_set():
                return
            if size is None or size - baseline > self.cap:
                self.exceeded = True
                self.on_exceed()
                return

    _walk_s = 0.0

    @property
    def _interval(self) -> float:
        # keep the watcher's cost under ~10% of a core even on a large tree
        return max(MIN_INTERVAL_S, 10 * self._walk_s)
