"""How every command starts: open the store, take the lock if it mutates, recover, check the lifecycle."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from runner.state import lifecycle


@contextmanager
def command_session(
    root: Path,
    action: str,
    *,
    command: str,
    mutates: bool = True,
    wait: bool = False,
    info: Callable[[str], None] | None = None,
) -> Iterator[Session]:
    """Open the store; for a mutating command take the repo lock; run recovery; `require` the action.

    The lifecycle check runs before the lock too, so a command in the wrong state changes nothing
    in .codex/ (not even the lock file), and again under the lock against races.
    """
    from runner.state.lock import RepoLock
    from runner.state.recovery import recover
    from runner.state.store import Store

    store = Store.open(root)
    try:
        if not mutates:
            line = recover(root, store)
            if line and info:
                info(line)
            mode = lifecycle.require(store, action)
            yield Session(store=store, mode=mode, lock=None)
            return
        if lifecycle.timeout_status(store) is None:
            lifecycle.require(store, action)  # fail fast without touching the lock file
        with RepoLock(root, command, wait=wait, on_wait=info) as lock:
            notes = []
            if lock.took_over:
                notes.append(f"took over the lock of dead pid {lock.took_over.get('pid')} "
                             f"(`{lock.took_over.get('command')}`)")
            line = recover(root, store)
            if line:
                notes.append(line)
            if notes and info:
                info("; ".join(notes))  # one line, whatever was recovered
            mode = lifecycle.require(store, action)
            yield Session(store=store, mode=mode, lock=lock)
    finally:
        store.close()


class Session:
    """What a command works with: the open store, how the action was allowed, and the lock held."""

    def __init__(self, store, mode: str, lock):
        self.store = store
        self.mode = mode
        self.lock = lock

    @property
    def adhoc(self) -> bool:
        return self.mode == "adhoc"
