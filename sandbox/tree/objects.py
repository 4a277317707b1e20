"""Phase two of extraction: the tree and diff of a change set, built from objects only.

Every call is git plumbing against the host-pinned git dir with a throwaway index; nothing here
reads a worktree.
"""

from __future__ import annotations

import os
from pathlib import Path

from sandbox.changeset import ChangeSet, FileChange
from sandbox.git.plumbing import git_pinned


def build_changeset(git_dir: Path, base_commit: str, base: dict[str, tuple[str, str]],
                    current: dict[str, tuple[str, str]], sizes: dict[str, int], index: Path) -> ChangeSet:
    """The ChangeSet of `current` (path -> mode, blob; blobs already written) against the base commit."""
    changes: list[FileChange] = []
    for rel, (mode, oid) in current.items():
        old = base.get(rel)
        if old is None:
            changes.append(
                FileChange(path=rel, status="added", new_blob=oid, new_mode=mode, size=sizes[rel])
            )
        elif old != (mode, oid):
            changes.append(
                FileChange(
                    path=rel,
                    status="modified",
                    old_blob=old[1],
                    new_blob=oid,
                    old_mode=old[0],
                    new_mode=mode,
                    size=sizes[rel],
                )
            )
    for rel, (mode, oid) in base.items():
        if rel not in current and mode != "160000":
            changes.append(FileChange(path=rel, status="deleted", old_blob=oid, old_mode=mode))
    base_tree = git_pinned(git_dir, "rev-parse", f"{base_commit}^{{tree}}").stdout.decode().strip()
    if not changes:
        return ChangeSet(base_commit=base_commit, tree=base_tree)
    changes.sort(key=lambda c: c.path)
    tree = _write_tree(git_dir, base_commit, changes, index)
    _fill_numstat(git_dir, base_commit, tree, changes)
    patch = git_pinned(
        git_dir,
        "diff-tree",
        "-r",
        "-p",
        "--no-renames",
        "--no-ext-diff",
        "--no-textconv",
        "--no-color",
        "--src-prefix=a/",
        "--dst-prefix=b/",
        base_commit,
        tree,
    ).stdout
    return ChangeSet(
        base_commit=base_commit, tree=tree, files=changes, patch=patch.decode("utf-8", "replace")
    )


def _write_tree(git_dir: Path, base_commit: str, changes: list[FileChange], index: Path) -> str:
    """Base tree plus the changes, through a throwaway index (deletions first, so D/F swaps work)."""
    zero = "0" * len(base_commit)
    lines = [b"0 %s\t%s\0" % (zero.encode(), os.fsencode(c.path)) for c in changes if c.status == "deleted"]
    lines += [
        b"%s %s\t%s\0" % (c.new_mode.encode(), c.new_blob.encode(), os.fsencode(c.path))
        for c in changes
        if c.status != "deleted"
    ]
    git_pinned(git_dir, "read-tree", base_commit, index=index)
    git_pinned(
        git_dir, "update-index", "-z", "--replace", "--index-info", index=index, input=b"".join(lines)
    )
    return git_pinned(git_dir, "write-tree", index=index).stdout.decode().strip()


def _fill_numstat(git_dir: Path, base_commit: str, tree: str, changes: list[FileChange]) -> None:
    out = git_pinned(
        git_dir,
        "diff-tree",
        "-r",
        "-z",
        "--numstat",
        "--no-renames",
        "--no-ext-diff",
        "--no-textconv",
        base_commit,
        tree,
    ).stdout
    by_path = {c.path: c for c in changes}
    for rec in out.split(b"\0"):
        if b"\t" not in rec:
            continue
        added, removed, path = rec.split(b"\t", 2)
        change = by_path.get(path.decode("utf-8", "surrogateescape"))
        if change is None:
            continue
        if added == b"-":
            change.binary = True
        else:
            change.lines_added += int(added)
            change.lines_removed += int(removed)
