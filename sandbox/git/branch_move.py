"""Move a branch that is checked out in the user's worktree: journaled, driver-free, never clobbering.

The one step of the product that writes into a tree the user works in. It treats the incoming
commit as a stranger's change:
- nothing any configuration defines runs: every filter driver the user's or the repo's config
  names is neutralised (empty smudge/clean/process), hooks and fsmonitor are off;
- every path the move writes is checked against the disk first: a tracked path with uncommitted
  changes, or an added path where an untracked or ignored file (or a non-directory parent) already
  sits, refuses the move with the list;
- the intent (ref, old, new, worktree) is made durable before the checkout is touched, so after a
  kill at any moment `recover_moves` rolls the move forward (checkout already at `new`) or back
  (checkout put back at `old`); the user's other uncommitted work is never touched.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from pydantic import BaseModel

from sandbox.errors import WorktreeError
from sandbox.faults import fault_point
from sandbox.fsutil import atomic_write
from sandbox.git.plumbing import common_git_dir, git_trusted
from sandbox.procutil import pid_alive

_DRIVER_KEY = re.compile(r"^(filter|merge)\.(.+)\.(smudge|clean|process|required|driver)$")


class MoveJournal(BaseModel):
    """The durable intent of one branch move."""

    ref: str
    old: str
    new: str
    worktree: str
    target: str
    pid: int


def journal_dir(repo: Path) -> Path:
    return common_git_dir(repo) / "codex-sandbox" / "moves"


def _journal_path(repo: Path, ref: str) -> Path:
    return journal_dir(repo) / f"{hashlib.sha1(ref.encode()).hexdigest()[:16]}.json"


def no_driver_flags(repo: Path) -> tuple[str, ...]:
    """`-c` flags that switch off every filter and merge driver the configuration (any level) defines,
    hooks and fsmonitor. A merge driver becomes `false`: a path it would have merged conflicts (and the
    merge changes nothing) instead of being merged by a program the user's config names."""
    proc = git_trusted(repo, "config", "--null", "--name-only", "--get-regexp", r"^(filter|merge)\.", check=False)
    drivers: set[tuple[str, str]] = set()
    for key in proc.stdout.decode("utf-8", "surrogateescape").split("\0"):
        m = _DRIVER_KEY.match(key.strip())
        if m and (m.group(1) == "filter") == (m.group(3) != "driver"):
            drivers.add((m.group(1), m.group(2)))
    flags = ["-c", "core.fsmonitor=false", "-c", "core.untrackedCache=false", "-c", "core.hooksPath=/dev/null"]
    for kind, name in sorted(drivers):
        if kind == "merge":
            flags += ["-c", f"merge.{name}.driver=false"]
        else:
            flags += ["-c", f"filter.{name}.smudge=", "-c", f"filter.{name}.clean=",
                      "-c", f"filter.{name}.process=", "-c", f"filter.{name}.required=false"]
    return tuple(flags)


def tree_entries(repo: Path, commit: str, paths: list[str]) -> dict[str, str]:
    """path -> "mode oid" for the given paths in `commit` (absent paths left out)."""
    if not paths:
        return {}
    out = git_trusted(repo, "ls-tree", "-r", "-z", "--full-tree", commit).stdout
    wanted, found = set(paths), {}
    for rec in out.split(b"\0"):
        if not rec:
            continue
        meta, path = rec.split(b"\t", 1)
        p = path.decode("utf-8", "surrogateescape")
        if p in wanted:
            mode, _type, oid = meta.decode().split(" ")
            found[p] = f"{mode} {oid}"
    return found


def index_entries(wt: Path, paths: list[str], flags: tuple[str, ...]) -> dict[str, str]:
    """path -> "mode oid" for the given paths in the worktree's index (stage 0 only)."""
    if not paths:
        return {}
    out = git_trusted(wt, "--literal-pathspecs", "ls-files", "-s", "-z", "--", *paths, flags=flags).stdout
    found = {}
    for rec in out.split(b"\0"):
        if not rec:
            continue
        meta, path = rec.split(b"\t", 1)
        mode, oid, stage = meta.decode().split(" ")
        if stage == "0":
            found[path.decode("utf-8", "surrogateescape")] = f"{mode} {oid}"
    return found


def changed_paths(repo: Path, a: str, b: str) -> list[str]:
    out = git_trusted(repo, "diff-tree", "-r", "-z", "--name-only", "--no-renames", a, b).stdout
    return sorted({p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p})


def _dirty_paths(wt: Path, flags: tuple[str, ...]) -> set[str]:
    """Paths with staged, unstaged or untracked changes in the (trusted) worktree, and their parent dirs."""
    out = git_trusted(wt, "--no-optional-locks", "status", "--porcelain=v1", "-z", "--untracked-files=all",
                      "--no-renames", flags=flags).stdout  # no index refresh: a refusal leaves the index as is
    paths: set[str] = set()
    for rec in out.split(b"\0"):
        if len(rec) > 3:
            p = rec[3:].decode("utf-8", "surrogateescape")
            paths.add(p)
            parts = p.split("/")
            paths.update("/".join(parts[:i]) for i in range(1, len(parts)))
    return paths


def collisions(wt: Path, touched: list[str], old_entries: dict[str, str], flags: tuple[str, ...]) -> list[str]:
    """What of the user's the move would overwrite: uncommitted changes on tracked paths, and anything
    (untracked or ignored, file or directory or symlink) at a path, or in the way of a path, not tracked at old."""
    found = set(touched) & _dirty_paths(wt, flags)
    for path in touched:
        if path in old_entries:
            continue
        parts = path.split("/")
        for i in range(1, len(parts)):  # a parent that is a symlink or a file would redirect the write
            parent = "/".join(parts[:i])
            if parent in old_entries:  # a tracked file or link the change replaces with a directory
                break
            full = wt / parent
            if os.path.islink(full) or (os.path.lexists(full) and not full.is_dir()):
                found.add(parent)
                break
        else:
            if os.path.lexists(wt / path):
                found.add(path)
    return sorted(found)


def filtered_paths(wt: Path, commit: str, paths: list[str], flags: tuple[str, ...]) -> list[str]:
    """Paths of `commit` whose attributes name a filter driver: they are checked out as plain blobs."""
    if not paths:
        return []
    data = b"".join(p.encode("utf-8", "surrogateescape") + b"\0" for p in paths)
    proc = git_trusted(wt, "check-attr", f"--source={commit}", "-z", "--stdin", "filter", input=data,
                       flags=flags, check=False)
    if proc.returncode != 0:  # git < 2.40 has no --source; the checkout's attributes are old's, which a change cannot alter
        proc = git_trusted(wt, "check-attr", "-z", "--stdin", "filter", input=data, flags=flags, check=False)
    fields = proc.stdout.split(b"\0")
    out = []
    for i in range(0, len(fields) - 2, 3):
        value = fields[i + 2].decode()
        if value not in ("unspecified", "unset", ""):
            out.append(f"{fields[i].decode('utf-8', 'surrogateescape')} (filter {value})")
    return out


def move_checked_out_branch(repo: Path, wt: Path, ref: str, old: str, new: str, target: str) -> list[str]:
    """Move `ref` from `old` to `new` and its checkout in `wt` with it; returns notes for the user.

    Refuses (WorktreeError, nothing changed) when the move would overwrite anything of the user's.
    """
    recover_moves(repo)  # a journal left by an earlier kill is settled before a new move starts
    flags = no_driver_flags(repo)
    touched = changed_paths(repo, old, new)
    old_entries = tree_entries(repo, old, touched)
    clash = collisions(wt, touched, old_entries, flags)
    if clash:
        shown = ", ".join(clash[:10]) + (" ..." if len(clash) > 10 else "")
        raise WorktreeError(f"{target} is checked out in {wt} with uncommitted changes the merge would overwrite: "
                            f"{shown} (tracked edits, untracked and ignored files of yours are never overwritten); "
                            "commit, move or stash them and retry")
    written = list(tree_entries(repo, new, touched))
    notes = [f"checked out as a plain blob, no filter run: {p}" for p in filtered_paths(wt, new, written, flags)]
    journal = MoveJournal(ref=ref, old=old, new=new, worktree=str(wt), target=target, pid=os.getpid())
    path = _journal_path(repo, ref)
    atomic_write(path, journal.model_dump_json() + "\n")
    fault_point("move.journaled")
    try:
        git_trusted(wt, "update-index", "-q", "--refresh", flags=flags, check=False)
        proc = git_trusted(wt, "read-tree", "-m", "-u", old, new, flags=flags, check=False)
        if proc.returncode != 0:
            path.unlink(missing_ok=True)
            tail = proc.stderr.decode(errors="replace").strip().splitlines()[-3:]
            raise WorktreeError(f"cannot update {wt} to the merge of {target}: {' | '.join(tail)}")
        fault_point("move.checked-out")
        moved = git_trusted(wt, "update-ref", "-m", f"codex-sandbox: merge into {target}", ref, new, old,
                            flags=flags, check=False)
        if moved.returncode != 0:  # someone moved the branch meanwhile: put the files back, change nothing
            _roll_back(wt, journal, flags)
            path.unlink(missing_ok=True)
            raise WorktreeError(f"branch {target} moved during the merge; nothing was changed")
        fault_point("move.ref-updated")
    except (KeyboardInterrupt, SystemExit):
        settle(repo, journal, path)  # Ctrl-C or SIGTERM mid-move: finish or undo now, not at the next command
        raise
    path.unlink(missing_ok=True)
    return notes


def recover_moves(repo: Path) -> list[str]:
    """Settle every move journal a dead process left; one line per journal saying what was done."""
    try:
        folder = journal_dir(repo)
    except WorktreeError:
        return []
    if not folder.is_dir():
        return []
    lines = []
    for path in sorted(folder.glob("*.json")):
        try:
            journal = MoveJournal.model_validate_json(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            path.unlink(missing_ok=True)
            continue
        if journal.pid != os.getpid() and pid_alive(journal.pid):
            continue  # a live process is in the middle of this move
        lines.append(settle(repo, journal, path))
    return lines


def settle(repo: Path, journal: MoveJournal, path: Path) -> str:
    """Roll one interrupted move forward or back, from where the branch and the index are now."""
    wt = Path(journal.worktree)
    short = f"{journal.target} {journal.old[:12]}→{journal.new[:12]}"
    tip = git_trusted(repo, "rev-parse", "--verify", "--quiet", journal.ref, check=False).stdout.decode().strip()
    if not wt.is_dir() or tip not in (journal.old, journal.new):
        path.unlink(missing_ok=True)
        return f"interrupted merge of {short}: the branch or its checkout changed since; nothing to do"
    if tip == journal.new:  # only the journal's removal was left
        path.unlink(missing_ok=True)
        return f"completed the interrupted merge of {short}"
    flags = no_driver_flags(repo)
    git_dir = Path(git_trusted(wt, "rev-parse", "--path-format=absolute", "--git-dir").stdout.decode().strip())
    if (git_dir / "index.lock").exists():
        raise WorktreeError(f"an interrupted merge of {short} is pending, but {git_dir / 'index.lock'} exists; "
                            "if no git command is running there, remove it and rerun")
    touched = changed_paths(repo, journal.old, journal.new)
    now = index_entries(wt, touched, flags)
    at_new = now == tree_entries(repo, journal.new, touched)
    at_old = now == tree_entries(repo, journal.old, touched)
    if at_new:
        git_trusted(wt, "update-ref", "-m", f"codex-sandbox: finish merge into {journal.target}", journal.ref,
                    journal.new, journal.old, flags=flags)
        path.unlink(missing_ok=True)
        return f"completed the interrupted merge of {short} (the checkout was already updated)"
    if at_old:
        _roll_back(wt, journal, flags, index_at_old=True)
        path.unlink(missing_ok=True)
        return f"undid the interrupted merge of {short}; the checkout is back at {journal.old[:12]}"
    raise WorktreeError(f"an interrupted merge of {short} left {wt}'s index at neither side; "
                        f"inspect it with `git status`, then remove {path}")


def _roll_back(wt: Path, journal: MoveJournal, flags: tuple[str, ...], *, index_at_old: bool = False) -> None:
    """Put the touched paths back at `old`: index and files. Only paths the move writes are touched."""
    if not index_at_old:
        git_trusted(wt, "read-tree", "-m", "-u", journal.new, journal.old, flags=flags, check=False)
        return
    # The index never left `old`, but a checkout killed half-way may have written some files: undo
    # exactly those (content equal to `new`'s blob); anything else there is the user's and stays.
    touched = changed_paths(wt, journal.old, journal.new)
    old_entries = tree_entries(wt, journal.old, touched)
    new_entries = tree_entries(wt, journal.new, touched)
    restore = []
    for p in touched:
        full = wt / p
        if p not in new_entries or _blob_id(full, len(new_entries[p].split()[1])) != new_entries[p].split()[1]:
            continue
        if p in old_entries:
            restore.append(p)
            continue
        full.unlink()
        parent = full.parent
        while parent != wt and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent
    if restore:
        git_trusted(wt, "checkout-index", "-f", "-u", "-z", "--stdin", flags=flags,
                    input=b"".join(p.encode("utf-8", "surrogateescape") + b"\0" for p in restore))


def _blob_id(path: Path, hex_len: int) -> str | None:
    """The git blob id of what is at `path` now (a symlink's target text, a file's bytes), None if neither."""
    try:
        data = os.fsencode(os.readlink(path)) if os.path.islink(path) else (
            path.read_bytes() if path.is_file() else None)
    except OSError:
        return None
    if data is None:
        return None
    algo = hashlib.sha256 if hex_len == 64 else hashlib.sha1
    return algo(b"blob %d\0" % len(data) + data).hexdigest()


def journal_for(repo: Path, ref: str) -> MoveJournal | None:
    """The pending journal of `ref`, if any (for status and tests)."""
    path = _journal_path(repo, ref)
    try:
        return MoveJournal.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None

