"""The repo lock: an advisory flock on .codex/lock holding the holder's pid and command.

A second orchestrator fails at once (StateError, exit 5) naming the holder, or waits with wait=True
(the global `--wait` sets WAIT_FOR_LOCK for the command, so every command that takes the lock has it).
The kernel drops a flock when its process dies, so a dead holder's lock is simply taken over; if a
dead holder's lock is still held (an inherited descriptor), the file is replaced. Re-entrant within
one process, so a command and the pipeline it calls can both take it.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Self

from runner.errors import StateError

_held: dict[str, tuple[int, int]] = {}  # path -> (fd, depth), locks this process holds
_guard = threading.Lock()
# Set by the CLI's global --wait for the command it runs; RepoLock waits when it or its argument says so.
WAIT_FOR_LOCK: ContextVar[bool] = ContextVar("codex_wait_for_lock", default=False)


def lock_path(root: Path) -> Path:
    return Path(root) / ".codex" / "lock"


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
    """The live holder of the lock, or None when nobody holds it (a probe that takes nothing)."""
    path = lock_path(root)
    key = str(path.resolve()) if path.exists() else None
    if key and key in _held:
        return {"pid": os.getpid(), "command": "this process"}
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    except OSError:
        return read_holder(root) or {"pid": None, "command": "unknown"}
    finally:
        os.close(fd)


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
        self._key: str | None = None

    def __enter__(self) -> Self:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _guard:
            key = str(self.path.resolve())
            if key in _held:
                fd, depth = _held[key]
                _held[key] = (fd, depth + 1)
                self._key = key
                return self
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        unnamed = 0
        while True:
            fd = self._try_acquire()
            if fd is not None:
                break
            holder = read_holder(self.root) or {}
            # A holder that wrote no name yet is mid-acquire, or a `status` probe holding the lock
            # for microseconds: retry briefly instead of failing on a blip.
            if not holder and unnamed < 20:
                unnamed += 1
                time.sleep(0.01)
                continue
            if not self.wait or (deadline is not None and time.monotonic() >= deadline):
                raise StateError(self._busy_message(holder))
            if self.on_wait is not None:
                self.on_wait(f"waiting for the repo lock held by pid {holder.get('pid', '?')} "
                             f"(`{holder.get('command', 'unknown command')}`)")
                self.on_wait = None  # once
            time.sleep(self.poll_s)
        self._record(fd)
        with _guard:
            self._key = str(self.path.resolve())
            _held[self._key] = (fd, 1)
        return self

    def _try_acquire(self) -> int | None:
        from sandbox.procutil import pid_alive

        for _ in range(2):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
                holder = read_holder(self.root)
                if holder and holder.get("pid") and not pid_alive(int(holder["pid"])):
                    # The holder died but its lock lives on (an inherited fd): replace the file.
                    self.took_over = holder
                    try:
                        os.unlink(self.path)
                    except FileNotFoundError:
                        pass
                    continue
                return None
            # Someone may have replaced the file after we opened it: the lock must be on the live inode.
            try:
                if os.fstat(fd).st_ino != os.stat(self.path).st_ino:
                    os.close(fd)
                    continue
            except FileNotFoundError:
                os.close(fd)
                continue
            previous = read_holder(self.root)
            if previous and previous.get("pid") and previous.get("pid") != os.getpid():
                self.took_over = self.took_over or previous  # crashed holder whose flock the kernel dropped
            return fd
        return None

    def _record(self, fd: int) -> None:
        from runner.state.models import utcnow

        data = json.dumps({"pid": os.getpid(), "command": self.command, "since": utcnow()}).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
        os.fsync(fd)

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
        with _guard:
            if self._key is None or self._key not in _held:
                return
            fd, depth = _held[self._key]
            if depth > 1:
                _held[self._key] = (fd, depth - 1)
                return
            del _held[self._key]
        try:
            # Leave an empty file: a lock file naming nobody means "free" to readers.
            os.ftruncate(fd, 0)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
