"""Materialise a commit's tree in a directory and reset it in place, touching only what differs.

The tree may have been written by a hostile container, so this never runs git in it: it walks with
no-follow `lstat`/`openat`, deletes what is not expected, and rewrites from blobs streamed out of the
host-pinned git dir. A host-owned record of each file's (inode, size, mtime, ctime) lets it skip what
did not change: a container can forge mtime but not ctime, so a matching ctime means untouched.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
import uuid
from dataclasses import dataclass, field, fields
from pathlib import Path

from sandbox.git.plumbing import iter_blobs
from sandbox.tree.pathnames import is_dotgit

MAX_DEPTH = 256
# Coarse kernel timestamps tick at most every 10 ms; past that, a later write always changes ctime.
SETTLE_NS = 25_000_000
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class Tamper(Exception):
    """The tree shows a sign of tampering; it must be destroyed, not repaired."""

    def __init__(self, path: str, reason: str):
        self.path, self.reason = path, reason
        super().__init__(f"{path}: {reason}")


@dataclass(slots=True)
class Entry:
    mode: str
    oid: str
    ino: int = 0
    size: int = 0
    mtime_ns: int = 0
    ctime_ns: int = 0


@dataclass
class TreeRecord:
    """What the host wrote into a tree: trusted, kept outside it."""

    base: str
    gitfile: str = ""
    gitfile_ino: int = 0
    gitfile_ctime_ns: int = 0
    admin_dir: str = ""
    stamp_ns: int = 0
    gitlinks: list[str] = field(default_factory=list)
    fs_bytes: int = 0  # size of the tree's own capped filesystem (0: the tree is on the host's)
    fs_cap_bytes: int = 0  # the disk cap that filesystem was sized for
    entries: dict[str, Entry] = field(default_factory=dict)

    def save(self, path: Path) -> None:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "entries"}
        data["entries"] = [
            [p, e.mode, e.oid, e.ino, e.size, e.mtime_ns, e.ctime_ns] for p, e in self.entries.items()
        ]
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, separators=(",", ":")))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> TreeRecord | None:
        try:
            data = json.loads(path.read_text())
            entries = {row[0]: Entry(*row[1:]) for row in data.pop("entries")}
            return cls(**data, entries=entries)
        except (OSError, ValueError, TypeError, KeyError, IndexError):
            return None  # missing or half-written: the caller rebuilds


def same_stat(rec: Entry, st: os.stat_result, owner: tuple[int, int] | None = None) -> bool:
    """True if the file on disk is exactly the one the record describes."""
    if (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns) != (
        rec.ino,
        rec.size,
        rec.mtime_ns,
        rec.ctime_ns,
    ):
        return False
    if owner is not None and st.st_uid != owner[0]:
        return False
    if rec.mode == "120000":
        return stat.S_ISLNK(st.st_mode)
    return stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == file_perm(rec.mode)


def gitfile_stat_ok(st: os.stat_result, rec: TreeRecord) -> bool:
    """The worktree's .git is still the very file the host wrote (a rewrite, even with the same bytes, is not)."""
    return (
        stat.S_ISREG(st.st_mode)
        and st.st_ino == rec.gitfile_ino
        and st.st_ctime_ns == rec.gitfile_ctime_ns
        and st.st_size == len(rec.gitfile.encode())
    )


def file_perm(mode: str) -> int:
    return 0o755 if mode == "100755" else 0o644


def tamper_sign(rel: str, name: str, st: os.stat_result) -> str | None:
    """Why this entry means the tree was tampered with, or None."""
    m = st.st_mode
    if is_dotgit(name):
        return "a .git alias or nested repository"
    if stat.S_ISFIFO(m) or stat.S_ISCHR(m) or stat.S_ISBLK(m) or stat.S_ISSOCK(m):
        return "a FIFO, device or socket"
    if m & (stat.S_ISUID | stat.S_ISGID):
        return "setuid/setgid bit"
    if stat.S_ISREG(m) and st.st_nlink > 1:
        return "hard-linked file"
    return None


def _trie(target: dict[str, tuple[str, str]]) -> dict:
    root: dict = {}
    for path, (mode, oid) in target.items():
        *dirs, leaf = path.split("/")
        node = root
        for d in dirs:
            node = node.setdefault(d, {})
        node[leaf] = {} if mode == "160000" else (mode, oid)  # submodules stay empty directories
    return root


class TreeSync:
    """One reset of `root` to `target`, reusing files whose recorded stat still matches."""

    def __init__(self, root: Path, git_dir: Path, *, owner: tuple[int, int] | None = None,
                 clean_dirs: dict[str, tuple[int, int, int]] | None = None):
        self.root, self.git_dir, self.owner = root, git_dir, owner
        self.clean_dirs = clean_dirs or {}
        self.kept: dict[str, Entry] = {}
        self.to_write: list[tuple[str, str, str]] = []
        self.changed = 0

    def run(self, target: dict[str, tuple[str, str]], known: dict[str, Entry]) -> dict[str, Entry]:
        """Make the tree equal to `target`; returns the new record entries. Raises Tamper."""
        self.known = known
        fd = os.open(self.root, _DIR_FLAGS)
        try:
            self._fix_dir(fd)
            self._sync_dir(fd, "", _trie(target), 0)
        finally:
            os.close(fd)
        self._write_all()
        return self.kept

    def _fix_dir(self, fd: int) -> None:
        clear_planted_xattrs(fd)
        st = os.fstat(fd)
        if stat.S_IMODE(st.st_mode) != 0o755:
            os.fchmod(fd, 0o755)
            self.changed += 1
        if self.owner and (st.st_uid, st.st_gid) != self.owner:
            os.fchown(fd, *self.owner)

    def _sync_dir(self, fd: int, prefix: str, node: dict, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise Tamper(prefix, "directory nesting too deep")
        if self._still_clean(fd, prefix, node, depth):
            return
        present: set[str] = set()
        with os.scandir(fd) as it:
            entries = list(it)
        for e in entries:
            name, rel = e.name, prefix + e.name
            if not prefix and name == ".git":
                continue  # verified by the caller against the record
            st = e.stat(follow_symlinks=False)
            sign = tamper_sign(rel, name, st)
            if sign:
                raise Tamper(rel, sign)
            want = node.get(name)
            if isinstance(want, dict) and stat.S_ISDIR(st.st_mode):
                present.add(name)
                self._descend(fd, name, rel, want, depth)
                continue
            if isinstance(want, tuple):
                rec = self.known.get(rel)
                if rec is not None and (rec.mode, rec.oid) == want and same_stat(rec, st, self.owner):
                    self.kept[rel] = rec
                    present.add(name)
                    continue
            self._remove(fd, name, st, rel, depth)
        for name, want in node.items():
            if name in present:
                continue
            rel = prefix + name
            if isinstance(want, dict):
                os.mkdir(name, 0o755, dir_fd=fd)
                self.changed += 1
                self._descend(fd, name, rel, want, depth)
            else:
                self.to_write.append((rel, *want))

    def _still_clean(self, fd: int, prefix: str, node: dict, depth: int) -> bool:
        """Skip listing a directory extraction found exactly as recorded, if it has not moved since."""
        seen = self.clean_dirs.get(prefix)
        if seen is None:
            return False
        st = os.fstat(fd)
        if (st.st_ino, st.st_mtime_ns, st.st_ctime_ns) != seen:
            return False
        leaves = [(prefix + n, w) for n, w in node.items() if isinstance(w, tuple)]
        if any(self.known.get(rel) is None or (self.known[rel].mode, self.known[rel].oid) != w for rel, w in leaves):
            return False
        for rel, _ in leaves:
            self.kept[rel] = self.known[rel]
        for name, want in node.items():
            if isinstance(want, dict):
                self._descend(fd, name, prefix + name, want, depth)
        return True

    def _descend(self, fd: int, name: str, rel: str, node: dict, depth: int) -> None:
        sub = os.open(name, _DIR_FLAGS, dir_fd=fd)
        try:
            self._fix_dir(sub)
            self._sync_dir(sub, rel + "/", node, depth + 1)
        finally:
            os.close(sub)

    def _remove(self, fd: int, name: str, st: os.stat_result, rel: str, depth: int) -> None:
        self.changed += 1
        if stat.S_ISDIR(st.st_mode):
            rmtree_at(fd, name, rel, depth)
        else:
            os.unlink(name, dir_fd=fd)

    def _write_all(self) -> None:
        by_oid: dict[str, list[tuple[str, str]]] = {}
        for rel, mode, oid in self.to_write:
            by_oid.setdefault(oid, []).append((rel, mode))
        for oid, data in iter_blobs(self.git_dir, by_oid):
            for rel, mode in by_oid[oid]:
                self.kept[rel] = self._write(rel, mode, oid, data)
        self.changed += len(self.to_write)

    def _write(self, rel: str, mode: str, oid: str, data: bytes) -> Entry:
        path = self.root / rel  # parents were verified or created by this walk; no process writes here now
        if mode == "120000":
            os.symlink(data, path)
            if self.owner:
                os.chown(path, *self.owner, follow_symlinks=False)
            st = os.lstat(path)
        else:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fchmod(fd, file_perm(mode))
                if self.owner:
                    os.fchown(fd, *self.owner)
                st = os.fstat(fd)
            finally:
                os.close(fd)
        return Entry(mode, oid, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


PLANTABLE_XATTRS = ("user.", "system.posix_acl_")  # all an unprivileged container can set


def clear_planted_xattrs(fd: int) -> None:
    """Remove the extended attributes and ACLs a container could have set on a kept directory (files
    are rewritten whole when touched, so theirs go with them); Tamper if any cannot be removed."""
    try:
        names = [n for n in os.listxattr(fd) if n.startswith(PLANTABLE_XATTRS)]
    except OSError:  # a filesystem without xattrs: nothing could have been planted
        return
    for name in names:
        try:
            os.removexattr(fd, name)
        except OSError as exc:
            raise Tamper("", f"cannot remove extended attribute {name!r}: {exc.strerror}") from None


def rmtree_at(parent_fd: int, name: str, rel: str = "", depth: int = 0) -> None:
    """Delete a directory below `parent_fd` without following links; raises Tamper past MAX_DEPTH."""
    if depth > MAX_DEPTH:
        raise Tamper(rel, "directory nesting too deep")
    try:
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    except NotADirectoryError:
        os.unlink(name, dir_fd=parent_fd)
        return
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) & 0o700 != 0o700:
            os.fchmod(fd, 0o700)  # the container may have left it unwritable to us (when we are not root)
        with os.scandir(fd) as it:
            entries = list(it)
        for e in entries:
            st = e.stat(follow_symlinks=False)
            sign = tamper_sign(f"{rel}/{e.name}", e.name, st)
            if sign and not (stat.S_ISREG(st.st_mode) and st.st_nlink > 1):
                raise Tamper(f"{rel}/{e.name}", sign)
            if stat.S_ISDIR(st.st_mode):
                rmtree_at(fd, e.name, f"{rel}/{e.name}", depth + 1)
            else:
                os.unlink(e.name, dir_fd=fd)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=parent_fd)


def destroy_tree(path: Path) -> None:
    """Remove a whole tree (moved aside first, so a half-removed tree is never mistaken for a live one)."""
    if not os.path.lexists(path):
        return
    trash = path.with_name(f".trash-{path.name}-{uuid.uuid4().hex[:8]}")
    os.rename(path, trash)
    remove_trash(trash)


def remove_trash(trash: Path) -> None:
    # GNU rm walks iteratively (no recursion limit) and never follows links.
    cmd = ["rm", "-rf", "--one-file-system", "--", str(trash)]
    if subprocess.run(cmd, capture_output=True, check=False).returncode != 0 and os.path.lexists(trash):
        subprocess.run(["chmod", "-R", "u+rwx", "--", str(trash)], capture_output=True, check=False)
        subprocess.run(cmd, capture_output=True, check=False)


def settle(since_ns: int) -> None:
    """Wait until a write after now is certain to carry a later ctime than anything written before `since_ns`."""
    left = since_ns + SETTLE_NS - time.time_ns()
    if left > 0:
        time.sleep(left / 1e9)
