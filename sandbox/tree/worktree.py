"""Per-run git worktrees outside the user's repository, from a pool of trees reset between runs.

Layout under `state_dir_for(repo)/worktrees/`: `<slot>/` the tree (a registered `git worktree`,
detached, populated by us without git touching it), `<slot>.json` the host's record of what it wrote
(gitfile bytes, per-file stat), `<slot>.lease` present while a run may have touched the tree, and
`<slot>.lock` (flock) held by the process that owns the slot. A lease found by a new owner means its
last owner died mid-run: that tree is destroyed, never repaired. So is any tree showing a sign of
tampering on release. Git never runs with a returned tree as its repository or work tree.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, Field, PrivateAttr

from sandbox.tree import capfs
from sandbox.errors import WorktreeError
from sandbox.git.branches import task_branch
from sandbox.git.plumbing import common_git_dir, git_pinned, git_trusted, ls_tree
from sandbox.docker.labels import repo_id
from sandbox.tree.sync import Tamper, TreeRecord, TreeSync, destroy_tree, gitfile_stat_ok, remove_trash, settle

_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_READ_NOFOLLOW = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def state_dir_for(repo: Path) -> Path:
    """$XDG_STATE_HOME (or ~/.local/state)/codex-sandbox/<repo-name>-<repo_id>."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    repo = Path(repo).resolve()
    return Path(base) / "codex-sandbox" / f"{repo.name}-{repo_id(repo)}"


def default_owner() -> tuple[int, int] | None:
    """Who owns the tree's files: the sandbox user (1000:1000) when we are root, else ourselves."""
    return (1000, 1000) if os.geteuid() == 0 else None


class Worktree(BaseModel):
    """A tree a run may write to; everything but `path`'s contents is the host's own record."""

    repo: Path
    git_dir: Path = Field(description="The repository's common git dir, resolved by the host.")
    path: Path
    branch: str
    base_commit: str
    run_id: str
    gitfile: str | None = Field(None, description="Exact bytes of path/.git as the host wrote them.")
    record: Path | None = Field(None, description="Host-owned stat record of the tree (speeds extraction).")
    _loaded: TreeRecord | None = PrivateAttr(None)  # the same record, in memory, when the manager made this
    _clean_dirs: dict[str, tuple[int, int, int]] = PrivateAttr(default_factory=dict)

    def hand_clean_dirs(self, clean: dict[str, tuple[int, int, int]]) -> None:
        """Extraction found these directories exactly as recorded; the reset may skip listing them.

        Only our own process runs between extraction and the reset (the container is gone); a directory
        whose inode, mtime or ctime moved since is listed again anyway.
        """
        self._clean_dirs = dict(clean)

    def host_record(self) -> TreeRecord | None:
        """The host's record of this tree at checkout (never anything read from the tree)."""
        if self._loaded is None and self.record is not None:
            self._loaded = TreeRecord.load(self.record)
        rec = self._loaded
        return rec if rec is not None and rec.base == self.base_commit else None


@dataclass
class _Slot:
    name: str
    pooled: bool
    lock_fd: int
    root: Path

    @property
    def path(self) -> Path:
        return self.root / self.name

    @property
    def record(self) -> Path:
        return self.root / f"{self.name}.json"

    @property
    def lease(self) -> Path:
        return self.root / f"{self.name}.lease"

    @property
    def image(self) -> Path:
        return self.root / f"{self.name}.img"


class WorktreeManager:
    """Hands out worktrees for runs and takes them back, resetting pooled ones in place."""

    def __init__(
        self,
        repo: Path,
        *,
        state_dir: Path | None = None,
        pool_size: int = 2,
        owner: tuple[int, int] | None | str = "auto",
        disk_cap_mb: int | None = None,
        disk_cap_mode: str = "auto",
    ):
        self.repo = Path(repo).resolve()
        self.state_dir = Path(state_dir) if state_dir else state_dir_for(self.repo)
        self.pool_size = max(0, pool_size)
        self.owner = default_owner() if owner == "auto" else owner
        self._git_dir: Path | None = None
        self.cap_bytes = 0  # > 0: every tree lives on its own filesystem of that much free space
        self.cap_note = "no disk cap asked for"
        if disk_cap_mb and disk_cap_mode != "poll":
            why = capfs.unavailable_reason()
            if why is None:
                self.cap_bytes = disk_cap_mb * capfs.MIB
                self.cap_note = f"kernel-enforced: the tree is its own {disk_cap_mb} MiB-free filesystem"
            elif disk_cap_mode == "kernel":
                raise WorktreeError(f"sandbox.disk_cap is 'kernel' but a capped filesystem cannot be made: {why}")
            else:
                self.cap_note = f"polled about once a second ({why})"
        elif disk_cap_mb:
            self.cap_note = "polled about once a second (sandbox.disk_cap: poll)"

    @property
    def root(self) -> Path:
        return self.state_dir / "worktrees"

    @property
    def git_dir(self) -> Path:
        if self._git_dir is None:
            self._git_dir = common_git_dir(self.repo)
        return self._git_dir

    @contextmanager
    def checkout(
        self, run_id: str, *, branch: str | None = None, base: str = "HEAD", keep: bool = False
    ) -> Iterator[Worktree]:
        """A worktree at `base` for one run; on exit it is reset into the pool or removed (never kept live)."""
        if not _RUN_ID.fullmatch(run_id):
            raise WorktreeError(f"invalid run id {run_id!r}: use letters, digits, '.', '_' or '-'")
        branch = branch or task_branch(run_id)
        if git_trusted(self.repo, "check-ref-format", "--branch", branch, check=False).returncode != 0:
            raise WorktreeError(f"invalid branch name {branch!r}")
        base_commit = self._resolve(base)
        slot = self._claim(run_id)
        try:
            rec = self._prepare(slot, base_commit, run_id)
            wt = Worktree(
                repo=self.repo,
                git_dir=self.git_dir,
                path=slot.path,
                branch=branch,
                base_commit=base_commit,
                run_id=run_id,
                gitfile=rec.gitfile,
                record=slot.record,
            )
            wt._loaded = rec
            settle(rec.stamp_ns)
            try:
                yield wt
            finally:
                self._release(slot, rec, wt._clean_dirs)
        finally:
            _unlock(slot.lock_fd)
        if keep:
            self._keep_branch(branch, base_commit)

    def gc(self, live_run_ids: set[str] | frozenset[str] = frozenset(), *, include_idle: bool = False) -> list[Path]:
        """Remove trees left by dead runs (and half-made ones), then `git worktree prune`.

        `include_idle` also removes the idle pool (the warm cache): its capped filesystems are unmounted
        and their images deleted, so nothing of this repository stays mounted.
        """
        removed: list[Path] = []
        if not self.root.is_dir():
            return removed
        for trash in self.root.glob(".trash-*"):
            remove_trash(trash)
            removed.append(trash)
        names = {_slot_name(p) for p in self.root.iterdir() if not p.name.startswith(".")}
        for name in sorted(names):
            fd = _try_lock(self.root / f"{name}.lock")
            if fd is None:
                continue  # a live process owns it
            slot = _Slot(name, name.startswith("pool-"), fd, self.root)
            try:
                lease = _read_lease(slot.lease)
                if lease and lease.get("run_id") in live_run_ids:
                    continue
                if (not include_idle and slot.pooled and lease is None
                        and self._gitfile_ok(slot, TreeRecord.load(slot.record))):
                    continue  # an idle, clean pool tree: the warm cache, not garbage
                if os.path.lexists(slot.path) or lease is not None:
                    removed.append(slot.path)
                self._destroy(slot, prune=False)
                if not slot.pooled:
                    with suppress(OSError):
                        (self.root / f"{name}.lock").unlink()
            finally:
                _unlock(fd)
        self._prune()
        return removed

    # -- slots -----------------------------------------------------------------------------------------

    def _claim(self, run_id: str) -> _Slot:
        self.root.mkdir(parents=True, exist_ok=True)
        # Trees may belong to the sandbox uid; no host user but us may reach them (bind mounts need no path).
        if os.stat(self.root).st_mode & 0o077:
            os.chmod(self.root, 0o700)
        for i in range(self.pool_size):
            fd = _try_lock(self.root / f"pool-{i}.lock")
            if fd is not None:
                return _Slot(f"pool-{i}", True, fd, self.root)
        fd = _try_lock(self.root / f"run-{run_id}.lock")
        if fd is None:
            raise WorktreeError(f"run {run_id} already has a live worktree")
        return _Slot(f"run-{run_id}", False, fd, self.root)

    def _prepare(self, slot: _Slot, base: str, run_id: str) -> TreeRecord:
        rec = TreeRecord.load(slot.record) if slot.pooled else None
        fresh = rec is None or slot.lease.exists() or not self._gitfile_ok(slot, rec) or not self._fs_ok(slot, rec)
        _write_lease(slot.lease, run_id, base)  # from here on, a crash means "destroy, don't repair"
        try:
            if fresh:
                self._destroy(slot, keep_lease=True)
                return self._create(slot, base)
            if rec.base != base and self.cap_bytes and not self._fs_fits(rec, base):
                self._destroy(slot, keep_lease=True)  # the new base needs a bigger filesystem
                return self._create(slot, base)
            if rec.base != base:
                target = ls_tree(self.git_dir, base)
                rec.entries = TreeSync(slot.path, self.git_dir, owner=self.owner).run(target, rec.entries)
                rec.gitlinks = [p for p, (mode, _) in target.items() if mode == "160000"]
                rec.base, rec.stamp_ns = base, time.time_ns()
                git_pinned(Path(rec.admin_dir), "update-ref", "--no-deref", "HEAD", base)
                rec.save(slot.record)
            return rec
        except Tamper:
            self._destroy(slot, keep_lease=True)
            return self._create(slot, base)
        except OSError as exc:
            self._destroy(slot)
            raise WorktreeError(f"cannot prepare worktree {slot.path}: {exc}") from exc
        except BaseException:
            self._destroy(slot)
            raise

    def _create(self, slot: _Slot, base: str) -> TreeRecord:
        path = slot.path
        fs_bytes = 0
        if self.cap_bytes:
            fs_bytes = capfs.image_size(*self._tree_size(base), self.cap_bytes)
            capfs.create(slot.image, path, fs_bytes)
        git_trusted(self.repo, "worktree", "add", "--detach", "--no-checkout", str(path), base)
        gitfile = path / ".git"
        st = os.lstat(gitfile)
        content = gitfile.read_text()
        if not content.startswith("gitdir: "):
            raise WorktreeError(f"unexpected .git file written by git worktree add in {path}")
        admin = Path(content[len("gitdir: ") :].strip())
        if not admin.is_absolute():
            admin = (path / admin).resolve()
        target = ls_tree(self.git_dir, base)
        rec = TreeRecord(
            base=base,
            gitfile=content,
            gitfile_ino=st.st_ino,
            gitfile_ctime_ns=st.st_ctime_ns,
            admin_dir=str(admin),
            fs_bytes=capfs.mounted_size(path) or 0 if fs_bytes else 0,
            fs_cap_bytes=self.cap_bytes,
        )
        rec.entries = TreeSync(path, self.git_dir, owner=self.owner).run(target, {})
        rec.gitlinks = [p for p, (mode, _) in target.items() if mode == "160000"]
        rec.stamp_ns = time.time_ns()
        rec.save(slot.record)
        return rec

    def _release(self, slot: _Slot, rec: TreeRecord, clean_dirs: dict | None = None) -> None:
        """Put a returned (hostile) tree back to its base, or destroy it; never leave it live."""
        if not slot.pooled:
            self._destroy(slot)
            return
        try:
            if not self._gitfile_ok(slot, rec):
                raise Tamper(".git", "the worktree's .git file changed")
            target = {p: (e.mode, e.oid) for p, e in rec.entries.items()}
            target.update({p: ("160000", "") for p in rec.gitlinks})
            sync = TreeSync(slot.path, self.git_dir, owner=self.owner, clean_dirs=clean_dirs)
            rec.entries = sync.run(target, rec.entries)
            if sync.changed:
                rec.stamp_ns = time.time_ns()
                rec.save(slot.record)
            slot.lease.unlink()
        except (Tamper, OSError, WorktreeError):
            self._destroy(slot)  # rebuilt from scratch by the next checkout

    def _destroy(self, slot: _Slot, *, keep_lease: bool = False, prune: bool = True) -> None:
        try:
            if slot.image.exists() or os.path.ismount(slot.path):
                capfs.destroy(slot.image, slot.path)  # the whole tree goes with its filesystem
            destroy_tree(slot.path)
        except OSError as exc:
            raise WorktreeError(f"cannot remove worktree {slot.path}: {exc}") from exc
        with suppress(FileNotFoundError):
            slot.record.unlink()
        if not keep_lease:
            with suppress(FileNotFoundError):
                slot.lease.unlink()
        if prune:
            self._prune()

    def _fs_ok(self, slot: _Slot, rec: TreeRecord) -> bool:
        """A tree made on its own filesystem still has it mounted; a capped manager wants one sized for its cap."""
        mounted = capfs.mounted_size(slot.path)
        if rec.fs_bytes and mounted != rec.fs_bytes:
            return False  # unmounted (a reboot) or replaced: the directory is not the tree we made
        if self.cap_bytes:
            return bool(rec.fs_bytes) and rec.fs_cap_bytes == self.cap_bytes
        return True

    def _fs_fits(self, rec: TreeRecord, base: str) -> bool:
        return rec.fs_bytes >= capfs.image_size(*self._tree_size(base), self.cap_bytes)

    def _tree_size(self, base: str) -> tuple[int, int]:
        """(bytes, files) of a commit's tree, from the object database."""
        out = git_pinned(self.git_dir, "ls-tree", "-r", "-l", "-z", "--full-tree", base).stdout
        total = files = 0
        for rec in out.split(b"\0"):
            meta = rec.split(b"\t", 1)[0].split()
            if len(meta) == 4:
                files += 1
                total += int(meta[3]) if meta[3].isdigit() else 0
        return total, files

    def _prune(self) -> None:
        git_trusted(self.repo, "worktree", "prune", check=False)

    def _gitfile_ok(self, slot: _Slot, rec: TreeRecord | None) -> bool:
        """The tree's .git is still the regular file we wrote, and git still has the worktree registered."""
        if rec is None:
            return False
        try:
            fd = os.open(slot.path / ".git", _READ_NOFOLLOW)
        except OSError:
            return False
        try:
            st = os.fstat(fd)
            data = os.read(fd, 65536) if st.st_size < 65536 else b""
        finally:
            os.close(fd)
        if not (gitfile_stat_ok(st, rec) and data == rec.gitfile.encode()):
            return False
        admin = Path(rec.admin_dir)
        try:
            back = (admin / "gitdir").read_text().strip()
        except OSError:
            return False
        return Path(back) == slot.path / ".git"

    # -- refs ------------------------------------------------------------------------------------------

    def _resolve(self, base: str) -> str:
        proc = git_trusted(
            self.repo,
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            f"{base}^{{commit}}",
            check=False,
        )
        if proc.returncode != 0:
            raise WorktreeError(f"unknown base revision {base!r} in {self.repo}")
        return proc.stdout.decode().strip()

    def _keep_branch(self, branch: str, base_commit: str) -> None:
        ref = f"refs/heads/{branch}"
        if git_trusted(self.repo, "rev-parse", "--verify", "--quiet", ref, check=False).returncode == 0:
            return  # already there (e.g. the run committed onto it)
        zero = "0" * len(base_commit)
        git_trusted(self.repo, "update-ref", "-m", "codex-sandbox: keep run branch", ref, base_commit, zero)


def _slot_name(p: Path) -> str:
    for suffix in (".json", ".lease", ".lock", ".img"):
        if p.name.endswith(suffix) and not p.is_dir():
            return p.name[: -len(suffix)]
    return p.name


def _try_lock(path: Path) -> int | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _unlock(fd: int) -> None:
    with suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


def _write_lease(path: Path, run_id: str, base: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps({"run_id": run_id, "pid": os.getpid(), "base": base, "at": time.time()}))
    os.replace(tmp, path)


def _read_lease(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
