"""Turn the tree a container left behind into a ChangeSet, treating every byte of it as hostile.

Two phases. A no-follow scan (openat/fstatat from a directory fd, never a path git could be tricked
with) refuses what must not be there and copies new or changed content into a host-private temp dir.
Then git plumbing, pinned to the repository's own git dir by the host, hashes those copies (no filters),
builds the tree in a throwaway index and diffs objects against objects. No git command ever sees the
tree, its `.git` or its config. Precondition: the container has exited, so nothing races the scan.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from pathlib import Path

from sandbox.changeset import ChangeSet
from sandbox.errors import HostileTreeError
from sandbox.git.plumbing import hash_files, ls_tree
from sandbox.git.ignore import IgnoreRules
from sandbox.tree.pathnames import escape_for_terminal, has_control, is_dotgit, is_gitattributes, is_gitmodules
from sandbox.settings import ExtractCaps
from sandbox.tree.objects import build_changeset
from sandbox.tree.sync import MAX_DEPTH, gitfile_stat_ok, same_stat
from sandbox.tree.worktree import Worktree

__all__ = ["escape_for_terminal", "extract_changes"]

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_MAX_LINK_HOPS = 40
_DEFAULT_CAPS = ExtractCaps()


def _refuse(path: str, reason: str) -> HostileTreeError:
    return HostileTreeError(escape_for_terminal(path, keep_newlines=False), reason)


def blob_id(data: bytes, algo: str) -> str:
    """The git object id of a blob with this content."""
    return hashlib.new(algo, b"blob %d\0" % len(data) + data).hexdigest()


class _Scan:
    """Phase one: walk the tree without following anything; collect what changed into `tmp`."""

    def __init__(self, wt: Worktree, base: dict[str, tuple[str, str]], known, caps: ExtractCaps, tmp: Path):
        self.wt, self.base, self.known, self.caps, self.tmp = wt, base, known, caps, tmp
        self.algo = "sha256" if len(wt.base_commit) == 64 else "sha1"
        self.base_dirs, self.children = _layout(base)
        self.gitlinks = {p for p, (mode, _) in base.items() if mode == "160000"}
        self.current: dict[str, tuple[str, str | None]] = {}  # path -> (mode, oid or None until hashed)
        self.pending: list[tuple[str, Path]] = []
        self.links: dict[str, str] = {}
        self.sizes: dict[str, int] = {}
        self.files = 0
        self.bytes = 0
        self._ignore: IgnoreRules | None = None
        # Directories found exactly as the host's record says (for the pool's reset to skip).
        self.clean_dirs: dict[str, tuple[int, int, int]] = {}
        self.track_clean = bool(known)

    def ignore(self) -> IgnoreRules:
        if self._ignore is None:
            self._ignore = IgnoreRules.from_base(self.wt.git_dir, self.base)
        return self._ignore

    def run(self) -> None:
        fd = os.open(self.wt.path, _DIR)
        try:
            self._check_gitfile(fd)
            self._dir(fd, "", 0, False)
        finally:
            os.close(fd)

    def _check_gitfile(self, fd: int) -> None:
        expected = self.wt.gitfile
        try:
            st = os.stat(".git", dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            if expected is None:
                return
            raise _refuse(".git", "the worktree's .git file is gone") from None
        if expected is None:
            raise _refuse(".git", "a .git appeared in a tree that had none")
        if not stat.S_ISREG(st.st_mode):
            raise _refuse(".git", "the worktree's .git was replaced (no longer a regular file)")
        rec = self.wt.host_record()
        if rec is not None and rec.gitfile == expected and not gitfile_stat_ok(st, rec):
            raise _refuse(".git", "the worktree's .git was replaced or rewritten")
        gfd = os.open(".git", _FILE, dir_fd=fd)
        try:
            data = os.read(gfd, len(expected.encode()) + 1)
        finally:
            os.close(gfd)
        if data != expected.encode():
            raise _refuse(".git", "the worktree's .git file was changed")

    def _dir(self, fd: int, prefix: str, depth: int, in_ignored: bool) -> None:
        dst = os.fstat(fd)
        matched, dirty = 0, False
        with os.scandir(fd) as it:
            entries = sorted(it, key=lambda e: e.name)
        for e in entries:
            name, rel = e.name, prefix + e.name
            if not prefix and name == ".git":
                continue  # checked against the host's record above
            if not name.isascii():
                try:
                    name.encode("utf-8")
                except UnicodeEncodeError:
                    raise _refuse(rel, "file name is not valid UTF-8") from None
            if is_dotgit(name):
                if prefix:
                    raise _refuse(rel, f"nested repository ({prefix.rstrip('/')!r} contains {name!r})")
                raise _refuse(rel, f"{name!r} aliases .git")
            st = e.stat(follow_symlinks=False)
            is_dir = stat.S_ISDIR(st.st_mode)
            tracked = rel in self.base or rel in self.base_dirs
            if not tracked:
                dirty = True
                if in_ignored or self.ignore().ignored(rel, is_dir):
                    continue  # never committed, never read; the pool deletes it
                if has_control(rel):
                    raise _refuse(rel, "control character in a new file name")
            self.files += 1
            if self.files > self.caps.max_files:
                raise _refuse(rel, f"tree holds more than {self.caps.max_files} files (cap)")
            if depth + 1 > min(self.caps.max_depth, MAX_DEPTH):
                raise _refuse(rel, f"deeper than {min(self.caps.max_depth, MAX_DEPTH)} levels (cap)")
            if self._entry(fd, name, rel, st, depth, in_ignored, tracked):
                matched += 1
            else:
                dirty = True
        if self.track_clean and not dirty and matched == self.children.get(prefix, 0):
            self.clean_dirs[prefix] = (dst.st_ino, dst.st_mtime_ns, dst.st_ctime_ns)

    def _entry(self, fd, name, rel, st, depth, in_ignored, tracked) -> bool:
        """Check one entry; True if it is exactly what the host's record says is there."""
        m = st.st_mode
        if m & (stat.S_ISUID | stat.S_ISGID):
            raise _refuse(rel, "setuid/setgid bit set")
        if stat.S_ISDIR(m):
            if rel in self.gitlinks:
                sub = os.open(name, _DIR, dir_fd=fd)
                try:
                    with os.scandir(sub) as it:
                        inside = next(iter(it), None)
                finally:
                    os.close(sub)
                if inside is not None:
                    raise _refuse(f"{rel}/{inside.name}", "inside a submodule path (submodules are off)")
                return True
            try:
                sub = os.open(name, _DIR, dir_fd=fd)
            except PermissionError:
                raise _refuse(rel, "unreadable directory") from None
            try:
                ignored = in_ignored or (tracked and self.ignore().ignored(rel, True))
                self._dir(sub, rel + "/", depth + 1, ignored)
            finally:
                os.close(sub)
            return rel in self.base_dirs
        elif stat.S_ISREG(m):
            return self._file(fd, name, rel, st)
        elif stat.S_ISLNK(m):
            return self._link(fd, name, rel, st)
        elif stat.S_ISFIFO(m):
            raise _refuse(rel, "is a FIFO")
        elif stat.S_ISCHR(m) or stat.S_ISBLK(m):
            raise _refuse(rel, "is a device node")
        elif stat.S_ISSOCK(m):
            raise _refuse(rel, "is a socket")
        else:
            raise _refuse(rel, "unsupported file type")

    def _file(self, fd: int, name: str, rel: str, st: os.stat_result) -> bool:
        self.bytes += st.st_size
        if self.bytes > self.caps.max_bytes:
            raise _refuse(rel, f"tree holds more than {self.caps.max_bytes} bytes (cap)")
        mode = "100755" if st.st_mode & 0o100 else "100644"
        self.sizes[rel] = st.st_size
        rec = self.known.get(rel)
        if rec is not None and rec.mode == mode and same_stat(rec, st):
            self.current[rel] = (mode, rec.oid)
            return True  # exactly the base file the host wrote: the per-file cap is about what a run writes
        if st.st_size > self.caps.max_file_bytes:
            raise _refuse(
                rel, f"file of {st.st_size} bytes is over the per-file cap ({self.caps.max_file_bytes})"
            )
        try:
            src = os.open(name, _FILE, dir_fd=fd)
        except PermissionError:
            raise _refuse(rel, "unreadable file") from None
        copy = self.tmp / str(len(self.pending))
        try:
            if os.fstat(src).st_ino != st.st_ino:
                raise _refuse(rel, "file changed while it was scanned")
            left = self.caps.max_file_bytes + 1
            with open(copy, "wb") as out:
                while chunk := os.read(src, min(1 << 20, left)):
                    out.write(chunk)
                    left -= len(chunk)
                    if left <= 0:
                        raise _refuse(rel, "file grew past the per-file cap while it was read")
        finally:
            os.close(src)
        self.current[rel] = (mode, None)
        self.pending.append((rel, copy))
        return False

    def _link(self, fd: int, name: str, rel: str, st: os.stat_result) -> bool:
        target = os.readlink(name, dir_fd=fd)
        self.links[rel] = target
        self.sizes[rel] = len(os.fsencode(target))
        rec = self.known.get(rel)
        if rec is not None and rec.mode == "120000" and same_stat(rec, st):
            self.current[rel] = ("120000", rec.oid)
            return True
        copy = self.tmp / str(len(self.pending))
        copy.write_bytes(os.fsencode(target))
        self.current[rel] = ("120000", None)
        self.pending.append((rel, copy))
        return False


def _layout(base: dict[str, tuple[str, str]]) -> tuple[set[str], dict[str, int]]:
    """The base commit's directories, and how many entries each directory ("" / "a/b/") holds."""
    dirs: set[str] = set()
    children: dict[str, int] = {}
    for path in base:
        parent = path.rpartition("/")[0]
        key = parent + "/" if parent else ""
        children[key] = children.get(key, 0) + 1
        while parent and parent not in dirs:  # each directory is added (and counted) once
            dirs.add(parent)
            up = parent.rpartition("/")[0]
            key = up + "/" if up else ""
            children[key] = children.get(key, 0) + 1
            parent = up
    return dirs, children


def _check_links(scan: _Scan) -> None:
    """Refuse new or changed symlinks that are absolute, point into .git, loop, or leave the tree."""
    resolver = _LinkResolver(scan.links)
    for rel, target in scan.links.items():
        oid = blob_id(os.fsencode(target), scan.algo)
        if scan.base.get(rel) == ("120000", oid):
            continue  # unchanged from the base commit
        if not target:
            raise _refuse(rel, "symlink with an empty target")
        if target.startswith("/"):
            raise _refuse(rel, f"absolute symlink to {escape_for_terminal(target)!r}")
        if any(is_dotgit(part) for part in target.split("/")):
            raise _refuse(rel, "symlink into .git")
        why = resolver.escapes(rel)
        if why:
            raise _refuse(rel, f"symlink {why} ({escape_for_terminal(target)!r})")


class _LinkResolver:
    """Resolves the tree's symlinks like the kernel would, each link once (memoised): linear in the links.

    A link's result is (components it points to, hops followed, why it is unsafe or None).
    """

    _VISITING = ([], 0, "loops")

    def __init__(self, links: dict[str, str]):
        self.links = links
        self.memo: dict[str, tuple[list[str], int, str | None]] = {}
        self.deepest = max((k.count("/") + 1 for k in links), default=0)  # no link lies deeper than this

    def escapes(self, rel: str) -> str | None:
        return self._link(rel)[2]

    def _link(self, rel: str) -> tuple[list[str], int, str | None]:
        known = self.memo.get(rel)
        if known is not None:
            return known
        self.memo[rel] = self._VISITING  # met again while resolving itself: a loop
        target = self.links[rel]
        if target.startswith("/"):
            result = ([], 1, "leaves the tree through an absolute symlink")
        else:
            comps, hops, why = self._walk(rel.split("/")[:-1], target)
            result = (comps, min(hops + 1, _MAX_LINK_HOPS + 1), why)
            if why is None and result[1] > _MAX_LINK_HOPS:
                result = ([], result[1], "loops")
        self.memo[rel] = result
        return result

    def _walk(self, stack: list[str], target: str) -> tuple[list[str], int, str | None]:
        stack, hops = list(stack), 0
        for part in target.split("/"):
            if part in ("", "."):
                continue
            if part == "..":
                if not stack:
                    return [], hops, "leaves the tree"
                stack.pop()
                continue
            stack.append(part)
            if len(stack) > self.deepest:
                continue
            key = "/".join(stack)
            if key in self.links:
                comps, inner_hops, why = self._link(key)
                hops += inner_hops
                if why is not None:
                    return [], hops, why
                stack = list(comps)
        return stack, hops, None


def _check_special(scan: _Scan) -> None:
    """`.gitattributes` and `.gitmodules` (and aliases) anywhere must be exactly as in the base commit."""
    differs = {p for p, v in scan.current.items() if v != scan.base.get(p)}
    differs |= scan.base.keys() - scan.current.keys()  # deleted (or now ignored/unseen)
    paths = {p for p in differs if any(is_gitattributes(c) or is_gitmodules(c) for c in p.split("/"))}
    copies = dict(scan.pending)
    for rel in sorted(paths):
        now = scan.current.get(rel)
        if now is not None and now[1] is None:
            now = (now[0], blob_id(copies[rel].read_bytes(), scan.algo))
        if now != scan.base.get(rel):
            what = ".gitmodules" if any(is_gitmodules(c) for c in rel.split("/")) else ".gitattributes"
            raise _refuse(rel, f"changes {what} (attributes and submodules are not accepted from a run)")


def _base_map(wt: Worktree) -> tuple[dict[str, tuple[str, str]], dict]:
    rec = wt.host_record()
    if rec is not None:
        base = {p: (e.mode, e.oid) for p, e in rec.entries.items()}
        base.update({p: ("160000", "") for p in rec.gitlinks})
        if rec.gitlinks:  # the record has no submodule ids; take them from the commit
            base.update({p: v for p, v in ls_tree(wt.git_dir, wt.base_commit).items() if v[0] == "160000"})
        return base, rec.entries
    return ls_tree(wt.git_dir, wt.base_commit), {}


def extract_changes(wt: Worktree, caps: ExtractCaps = _DEFAULT_CAPS) -> ChangeSet:
    """The change set of a returned tree; raises HostileTreeError naming the path and reason."""
    base, known = _base_map(wt)
    with tempfile.TemporaryDirectory(prefix="codex-extract-") as tmp:
        scan = _Scan(wt, base, known, caps, Path(tmp))
        try:
            scan.run()
        except OSError as exc:  # e.g. the tree's root is gone or was swapped for something else
            name = os.fsdecode(exc.filename) if exc.filename is not None else "."
            raise _refuse(name if not os.path.isabs(name) else ".", f"cannot scan the tree: {exc.strerror}") from exc
        _check_links(scan)
        _check_special(scan)
        # Only now, with nothing refused, does anything reach the object database.
        oids = hash_files(wt.git_dir, [copy for _, copy in scan.pending])
        for (rel, _), oid in zip(scan.pending, oids):
            scan.current[rel] = (scan.current[rel][0], oid)
        wt.hand_clean_dirs(scan.clean_dirs)
        return build_changeset(wt.git_dir, wt.base_commit, base, scan.current, scan.sizes, Path(tmp) / "index")
