"""Build a ChangeSet from the user's own (trusted) repo: the index, a revision range, or files.

Every blob ends up in the object DB (files via `git hash-object -w`), so `policy check` takes
the same path through the engine as a sandboxed task.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from runner.errors import InvalidInput
from runner.policy.blobs import GIT_SAFE, added_line_numbers, is_binary, read_blobs
from sandbox.changeset import ChangeSet, FileChange

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
STATUS = {"A": "added", "M": "modified", "D": "deleted", "T": "modified"}
ZERO = "0" * 40


def _git(repo: Path, *args: str, input: bytes | None = None) -> bytes:
    proc = subprocess.run(["git", *GIT_SAFE, "-C", str(repo), *args], input=input, check=False, capture_output=True)
    if proc.returncode != 0:
        msg = proc.stderr.decode(errors="replace").strip().splitlines()
        raise InvalidInput(f"git {args[0]}: {msg[-1] if msg else 'failed'}")
    return proc.stdout


def _head(repo: Path) -> str | None:
    proc = subprocess.run(["git", "-C", str(repo), "rev-parse", "--verify", "-q", "HEAD"], check=False, capture_output=True, text=True)
    return proc.stdout.strip() or None


def _parse_raw(out: bytes) -> list[tuple[str, str, str, str, str, str]]:
    """`--raw -z` records: (old_mode, new_mode, old_sha, new_sha, status, path)."""
    parts = out.split(b"\0")
    records, i = [], 0
    while i + 1 < len(parts) and parts[i]:
        meta = parts[i].decode().lstrip(":").split()
        path = parts[i + 1].decode("utf-8", errors="surrogateescape")
        records.append((meta[0], meta[1], meta[2], meta[3], meta[4][0], path))
        i += 2
    return records


def _changes_from_raw(repo: Path, records) -> list[FileChange]:
    blobs = read_blobs(repo, [r[2] for r in records if r[2] != ZERO] + [r[3] for r in records if r[3] != ZERO])
    files = []
    for old_mode, new_mode, old, new, status, path in records:
        if status not in STATUS or new_mode == "160000" or old_mode == "160000":
            continue  # submodule pointers carry no content to scan
        old_data = blobs.get(old) if old != ZERO else None
        new_data = blobs.get(new) if new != ZERO else None
        binary = is_binary(new_data or b"") or is_binary(old_data or b"")
        added = len(added_line_numbers(old_data, new_data)) if new_data is not None and not binary else 0
        removed = 0
        if old_data is not None and not binary:
            removed = len(added_line_numbers(new_data, old_data)) if new_data is not None else len(old_data.splitlines())
        files.append(FileChange(
            path=path, status=STATUS[status], old_blob=None if old == ZERO else old,
            new_blob=None if new == ZERO else new, old_mode=None if old_mode == "000000" else old_mode,
            new_mode=None if new_mode == "000000" else new_mode, binary=binary,
            lines_added=added, lines_removed=removed, size=len(new_data or b""),
        ))  # fmt: skip
    return files


def staged_changeset(repo: Path) -> ChangeSet:
    """What `git commit` would commit now: the index against HEAD."""
    head = _head(repo)
    out = _git(repo, "diff-index", "--cached", "--raw", "-z", "--no-renames", "--abbrev=40", head or EMPTY_TREE)
    tree = _git(repo, "write-tree").decode().strip()
    return ChangeSet(base_commit=head or "", tree=tree, files=_changes_from_raw(repo, _parse_raw(out)))


def diff_changeset(repo: Path, rev: str) -> ChangeSet:
    """Changes of `rev..HEAD` (or an explicit `A..B` / `A...B` range; A may be EMPTY_TREE)."""
    if "..." in rev:
        a, b = rev.split("...", 1)
        a = _git(repo, "merge-base", a or "HEAD", b or "HEAD").decode().strip()
    elif ".." in rev:
        a, b = rev.split("..", 1)
    else:
        a, b = rev, "HEAD"
    if a == EMPTY_TREE:  # the whole tree of `b` counts as added (a first deploy)
        base = EMPTY_TREE
    else:
        base = _git(repo, "rev-parse", "--verify", f"{a or 'HEAD'}^{{commit}}").decode().strip()
    top = _git(repo, "rev-parse", "--verify", f"{b or 'HEAD'}^{{commit}}").decode().strip()
    out = _git(repo, "diff-tree", "-r", "--raw", "-z", "--no-renames", "--abbrev=40", base, top)
    tree = _git(repo, "rev-parse", f"{top}^{{tree}}").decode().strip()
    return ChangeSet(base_commit=base, tree=tree, files=_changes_from_raw(repo, _parse_raw(out)))


def paths_changeset(repo: Path, paths: list[str]) -> ChangeSet:
    """The named files (directories expanded) checked whole, as if newly added."""
    repo = repo.resolve()
    rels: list[str] = []
    for raw in paths:
        p = Path(raw).resolve()
        try:
            rel = p.relative_to(repo).as_posix()
        except ValueError:
            raise InvalidInput(f"path outside the repository: {raw}") from None
        if p.is_dir():
            listed = _git(repo, "ls-files", "-z", "-co", "--exclude-standard", "--", rel or ".").split(b"\0")
            rels.extend(x.decode("utf-8", errors="surrogateescape") for x in listed if x)
        elif p.is_file():
            rels.append(rel)
        else:
            raise InvalidInput(f"no such file: {raw}")
    rels = [r for r in dict.fromkeys(rels) if (repo / r).is_file() and not (repo / r).is_symlink()]
    if not rels:
        return ChangeSet(base_commit=_head(repo) or "", tree=EMPTY_TREE, files=[])
    shas = _git(repo, "hash-object", "-w", "--no-filters", "--stdin-paths", input="\n".join(rels).encode()).decode().split()
    files = []
    for rel, sha in zip(rels, shas):
        data = (repo / rel).read_bytes()
        binary = is_binary(data)
        files.append(FileChange(path=rel, status="added", new_blob=sha, new_mode="100644", binary=binary,
                                lines_added=0 if binary else len(data.splitlines()), size=len(data)))  # fmt: skip
    head = _head(repo)
    tree = _git(repo, "rev-parse", "HEAD^{tree}").decode().strip() if head else EMPTY_TREE
    return ChangeSet(base_commit=head or "", tree=tree, files=files)
