"""Read a change set's blobs from the object DB (never a working tree) and stage them once for scanners."""

from __future__ import annotations

import difflib
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from runner.errors import RunnerError
from sandbox.changeset import ChangeSet, FileChange

# Git plumbing on the (trusted) repo, with nothing that could run a program from config.
GIT_SAFE = ["-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null"]
BIG_DIFF = 25_000_000  # old lines x new lines above which the exact diff is skipped


def read_blobs(repo: Path, blob_ids: list[str]) -> dict[str, bytes]:
    """Contents of many blobs in one `git cat-file --batch` call."""
    wanted = list(dict.fromkeys(b for b in blob_ids if b))
    if not wanted:
        return {}
    proc = subprocess.run(
        ["git", *GIT_SAFE, "-C", str(repo), "cat-file", "--batch"],
        input=("\n".join(wanted) + "\n").encode(),
        check=False, capture_output=True,
    )
    if proc.returncode != 0:
        raise RunnerError(f"git cat-file failed: {proc.stderr.decode(errors='replace').strip()[:200]}")
    out, pos, blobs = proc.stdout, 0, {}
    for sha in wanted:
        end = out.index(b"\n", pos)
        header = out[pos:end].decode()
        pos = end + 1
        if header.endswith(" missing"):
            raise RunnerError(f"blob {sha} is not in the repository's object database")
        size = int(header.rsplit(" ", 1)[1])
        blobs[sha] = out[pos : pos + size]
        pos += size + 1
    return blobs


def is_binary(data: bytes) -> bool:
    return b"\0" in data[:8192]


def added_line_numbers(old: bytes | None, new: bytes) -> set[int]:
    """1-based numbers of lines in `new` that the change added (all of them for a new file)."""
    new_lines = new.decode("utf-8", errors="replace").splitlines()
    if not old:
        return set(range(1, len(new_lines) + 1))
    old_lines = old.decode("utf-8", errors="replace").splitlines()
    if len(old_lines) * len(new_lines) > BIG_DIFF:
        # SequenceMatcher is quadratic at worst; for huge files count a line as added when the old
        # file does not hold that many copies of it (order ignored, never misses a new line's text).
        from collections import Counter

        left = Counter(old_lines)
        added = set()
        for number, line in enumerate(new_lines, start=1):
            if left[line] > 0:
                left[line] -= 1
            else:
                added.add(number)
        return added
    matcher = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    added: set[int] = set()
    for tag, _i1, _i2, j1, j2 in matcher.get_opcodes():
        if tag in ("insert", "replace"):
            added.update(range(j1 + 1, j2 + 1))
    return added


def safe_relpath(path: str) -> bool:
    """A repo-relative path that cannot escape the staging directory."""
    p = PurePosixPath(path)
    return bool(path) and not p.is_absolute() and ".." not in p.parts and "\0" not in path


@dataclass
class StagedFile:
    """One changed, non-deleted file as the scanners see it."""

    change: FileChange
    new: bytes
    old: bytes | None
    binary: bool
    added_lines: set[int] = field(default_factory=set)
    staged_path: Path | None = None

    @property
    def path(self) -> str:
        return self.change.path

    @property
    def text(self) -> str:
        return self.new.decode("utf-8", errors="replace")


class Staging:
    """The changed blobs written once into a temp dir (same relative paths), removed on exit."""

    def __init__(self, repo: Path, changes: ChangeSet):
        self.repo = Path(repo)
        self.changes = changes
        self.files: list[StagedFile] = []
        self.unsafe: list[str] = []
        self.root: Path | None = None
        self.work: Path | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None

    def __enter__(self) -> Staging:  # noqa: PYI034
        self._tmp = tempfile.TemporaryDirectory(prefix="codex-policy-")
        try:
            # tree/ holds the changed files at their repo paths; work/ the scanners' own files,
            # outside the tree so no changed path can collide with them
            self.root = Path(self._tmp.name) / "tree"
            self.work = Path(self._tmp.name) / "work"
            self.root.mkdir()
            self.work.mkdir()
            # gitlinks (submodule pointers, mode 160000) name commits, not blobs: nothing to scan
            live = [c for c in self.changes.files if c.status != "deleted" and c.new_blob and c.new_mode != "160000"]
            blobs = read_blobs(self.repo, [c.new_blob for c in live] + [c.old_blob for c in live if c.old_blob])
            for change in live:
                if not safe_relpath(change.path):
                    self.unsafe.append(change.path)
                    continue
                new = blobs[change.new_blob]
                old = blobs.get(change.old_blob) if change.old_blob else None
                binary = change.binary or is_binary(new)
                staged = StagedFile(change=change, new=new, old=old, binary=binary)
                if not binary:
                    staged.added_lines = added_line_numbers(old, new)
                    target = self.root / change.path
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(new)
                    staged.staged_path = target
                self.files.append(staged)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def text_files(self) -> list[StagedFile]:
        return [f for f in self.files if not f.binary and f.staged_path is not None]


def blob_text_lines(data: bytes) -> list[str]:
    return data.decode("utf-8", errors="replace").splitlines()


def env_without_git() -> dict[str, str]:
    """Environment for scanners: no GIT_* variables that could point them at another repo."""
    return {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
