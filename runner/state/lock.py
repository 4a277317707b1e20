"""The repo lock: a filelock (flock) on .codex/lock whose file records the holder's pid and command.

A second orchestrator fails at once (StateError, exit 5) naming the holder, or waits with wait=True
(the global `--wait` sets WAIT_FOR_LOCK for the command, so every command that takes the lock has it).
The kernel drops a flock when its process dies, so a dead holder's lock is simply taken over; if a
dead holder's lock is still held (an inherited descriptor), the file is replaced. Re-entrant within
one process, so a command and the pipeline it calls can both take it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Self

from filelock import Timeout, UnixFileLock

from runner.errors import StateError

# Set by the CLI's global --wait for the command it runs; RepoLock waits when it or its argument says so.
WAIT_FOR_LOCK: ContextVar[bool] = ContextVar("codex_wait_for_lock", default=False)
# A holder that wrote no name yet is mid-acquire, or a `status` probe holding the lock for
# microseconds: a contender retries this long before calling the lock busy.
_UNNAMED_GRACE_S = 0.2


def lock_path(root: Path) -> Path:
    return Path(root) / ".codex" / "lock"


def _file_lock(path: Path) -> UnixFileLock:
    """The process's one lock object for `path`: filelock counts re-entries on it.

    Shared across threads (not thread-local), so a worker thread of a command that holds the lock
    re-enters it instead of waiting on its own process. No soft fallback: the record lives in the file.
    """
    return UnixFileLock(path, is_singleton=True, thread_local=False, fallback_to_soft=False,
                        preserve_lock_file=True)


def read_holder(root: Path) -> dict | None:
    """The recorded holder {pid, command, since} of the repo lock, if the file names one."""
    try:
        text = lock_path(root).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def holder_if_locked(root: Path) -> dict | None:
    """The live holder of the lock, or None when nobody holds it (a probe that takes nothing for long)."""
    path = lock_path(root)
    if not path.exists():
        return None
    if _file_lock(path).is_locked:
        return {"pid": os.getpid(), "command": "this process"}
    probe = UnixFileLock(path, fallback_to_soft=False, preserve_lock_file=True)
    try:
        probe.acquire(blocking=False)
    except Timeout:
        return read_holder(root) or {"pid": None, "command": "unknown"}
    probe.release()
    return None


def _dead(holder: dict | None) -> bool:
    from sandbox.procutil import pid_alive

    return bool(holder and holder.get("pid") and not pid_alive(int(holder["pid"])))


class RepoLock:
    """Context manager holding the repo's advisory lock for `command`."""

    def __init__(self, root: Path, command: str, *, wait: bool = False, timeout: float | None = None,
                 poll_s: float = 0.1, on_wait: Callable[[str], None] | None = None):
        self.root = Path(root)
        self.command = command
        self.wait = wait or WAIT_FOR_LOCK.get()
        self.on_wait = on_wait
        self.timeout = timeout
        self.poll_s = poll_s
        self.path = lock_path(self.root)
        self.took_over: dict | None = None  # the dead holder we replaced, if any
        self._lock: UnixFileLock | None = None

    def __enter__(self) -> Self:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = _file_lock(self.path)
        if lock.is_locked:  # this process holds it already: count the re-entry
            lock.acquire()
            self._lock = lock
            return self
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while not self._take(lock, deadline):
            # The holder died but its lock lives on (an inherited fd): replace the file, once.
            self.took_over = read_holder(self.root)
            self.path.unlink(missing_ok=True)
        self._lock = lock
        previous = read_holder(self.root)
        if previous and previous.get("pid") and previous.get("pid") != os.getpid():
            self.took_over = self.took_over or previous  # crashed holder whose flock the kernel dropped
        self._record()
        return self

    def _take(self, lock: UnixFileLock, deadline: float | None) -> bool:
        """Take the lock, or wait for it with --wait; False when its recorded holder is dead (replace it)."""
        may_replace = self.took_over is None
        stale = (lambda: _dead(read_holder(self.root))) if may_replace else None
        if self._acquire(lock, 0, poll_s=self.poll_s):
            return True
        holder = read_holder(self.root)
        if stale is not None and stale():
            return False
        if not holder and self._acquire(lock, _UNNAMED_GRACE_S, poll_s=0.01):
            return True
        if self.wait:
            if self.on_wait is not None:
                holder = holder or {}
                self.on_wait(f"waiting for the repo lock held by pid {holder.get('pid', '?')} "
                             f"(`{holder.get('command', 'unknown command')}`)")
                self.on_wait = None  # once
            left = None if deadline is None else max(deadline - time.monotonic(), 0)
            if self._acquire(lock, left, poll_s=self.poll_s, stop=stale):
                return True
            if stale is not None and stale():
                return False
        raise StateError(self._busy_message(read_holder(self.root) or {}))

    @staticmethod
    def _acquire(lock: UnixFileLock, timeout: float | None, *, poll_s: float,
                 stop: Callable[[], bool] | None = None) -> bool:
        """Wait up to `timeout` seconds (forever if None) for the lock, unless `stop` says to give up."""
        try:
            lock.acquire(timeout=-1 if timeout is None else timeout, poll_interval=poll_s, cancel_check=stop)
        except Timeout:
            return False
        return True

    def _record(self) -> None:
        from runner.state.models import utcnow

        data = json.dumps({"pid": os.getpid(), "command": self.command, "since": utcnow()}).encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0)
            os.fsync(fd)
        finally:
            os.close(fd)

    def _busy_message(self, holder: dict) -> str:
        pid = holder.get("pid", "?")
        command = holder.get("command", "unknown command")
        since = holder.get("since")
        when = f" since {since[:19]}Z" if since else ""
        return (
            f"repo is locked by pid {pid} (`{command}`){when}; "
            f"wait for it to finish or retry with --wait"
        )

    def __exit__(self, *exc) -> None:
        lock, self._lock = self._lock, None
        if lock is None:
            return
        if lock.lock_counter == 1:
            # Leave an empty file: a lock file naming nobody means "free" to readers.
            try:
                os.truncate(self.path, 0)
            finally:
                lock.release()
        else:
            lock.release()
