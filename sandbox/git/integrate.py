"""Commit a ChangeSet and merge branches in the user's repository, without ever using a worktree of ours.

Everything is plumbing on objects (commit-tree, merge-tree --write-tree, update-ref with the old value),
so a failure leaves refs, index and files as they were. The user's repository is trusted: its own
config applies (identity), but hooks are off. A branch checked out in a worktree of the user's is
moved by `branch_move` (journaled, no configured driver runs, nothing of the user's overwritten).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from sandbox.git.branch_move import move_checked_out_branch, no_driver_flags
from sandbox.changeset import ChangeSet
from sandbox.errors import MergeConflict, WorktreeError
from sandbox.faults import fault_point
from sandbox.git.plumbing import git_trusted
from sandbox.settings import CommitIdentity

__all__ = ["CommitIdentity", "MergeConflict", "MergeResult", "commit_changeset", "current_branch",
           "merge_branch", "rev_parse"]

_TRAILER_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")


class MergeResult(BaseModel):
    """What merge_branch did: the target's new tip and how it got there."""

    commit: str
    fast_forward: bool
    up_to_date: bool = False
    notes: list[str] = []


def identity_env(repo: Path, fallback: CommitIdentity | None) -> dict[str, str]:
    """GIT_AUTHOR_*/GIT_COMMITTER_* from `fallback` for each role git has no configured identity for."""
    fallback = fallback or CommitIdentity()
    env: dict[str, str] = {}
    for role in ("AUTHOR", "COMMITTER"):
        known = git_trusted(repo, "var", f"GIT_{role}_IDENT", flags=("-c", "user.useConfigOnly=true"), check=False)
        if known.returncode != 0:
            env[f"GIT_{role}_NAME"] = fallback.name
            env[f"GIT_{role}_EMAIL"] = fallback.email
    return env


def rev_parse(repo: Path, rev: str = "HEAD") -> str:
    """The object id `rev` names; WorktreeError if it names nothing."""
    proc = git_trusted(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", rev, check=False)
    if proc.returncode != 0:
        raise WorktreeError(f"unknown revision {rev!r} in {repo}")
    return proc.stdout.decode().strip()


def current_branch(repo: Path) -> str:
    """The short name of the branch checked out in `repo`; WorktreeError when HEAD is detached."""
    proc = git_trusted(repo, "symbolic-ref", "--quiet", "--short", "HEAD", check=False)
    if proc.returncode != 0:
        raise WorktreeError(f"HEAD is detached in {repo}: check out a branch first")
    return proc.stdout.decode().strip()


def _branch_ref(repo: Path, branch: str) -> str:
    name = branch.removeprefix("refs/heads/")
    if git_trusted(repo, "check-ref-format", "--branch", name, check=False).returncode != 0:
        raise WorktreeError(f"invalid branch name {branch!r}")
    return f"refs/heads/{name}"


def _tip(repo: Path, ref: str) -> str | None:
    proc = git_trusted(repo, "rev-parse", "--verify", "--quiet", ref, check=False)
    return proc.stdout.decode().strip() if proc.returncode == 0 else None


def _is_ancestor(repo: Path, a: str, b: str) -> bool:
    return git_trusted(repo, "merge-base", "--is-ancestor", a, b, check=False).returncode == 0


def format_message(message: str, trailers: dict[str, str]) -> str:
    """The message with `Key: value` trailers in a final paragraph (validated, not interpreted by git)."""
    lines = []
    for key, value in trailers.items():
        if not _TRAILER_KEY.fullmatch(key) or "\n" in str(value) or "\r" in str(value):
            raise WorktreeError(f"invalid commit trailer {key!r}")
        lines.append(f"{key}: {value}")
    body = message.strip() or "codex-sandbox change"
    return body + ("\n\n" + "\n".join(lines) if lines else "") + "\n"


def commit_changeset(repo: Path, cs: ChangeSet, *, branch: str, message: str, trailers: dict[str, str],
                     identity: CommitIdentity | None = None) -> str:
    """Commit the change set's tree on `branch` (created at its base if missing); returns the commit id.

    The branch only moves forward: if it already holds commits that are not in the change set's base,
    this refuses rather than dropping them.
    """
    ref = _branch_ref(repo, branch)
    if git_trusted(repo, "cat-file", "-e", f"{cs.tree}^{{tree}}", check=False).returncode != 0:
        raise WorktreeError(f"tree {cs.tree} of the change set is not in {repo}'s object database")
    old = _tip(repo, ref)
    if old is not None and old != cs.base_commit and not _is_ancestor(repo, old, cs.base_commit):
        raise WorktreeError(f"branch {branch} is at {old[:12]}, which is not in the change set's base "
                            f"{cs.base_commit[:12]}; refusing to move it")
    text = format_message(message, trailers)
    commit = git_trusted(repo, "commit-tree", cs.tree, "-p", cs.base_commit, "-F", "-", input=text.encode(),
                         env=identity_env(repo, identity)).stdout.decode().strip()
    fault_point("commit.object-written")
    zero = "0" * len(cs.base_commit)
    git_trusted(repo, "update-ref", "-m", f"codex-sandbox: commit on {branch}", ref, commit, old or zero)
    fault_point("commit.ref-updated")
    return commit


def merge_branch(repo: Path, source: str, target: str, *, message: str,
                 before_update: Callable[[str, str], None] | None = None,
                 identity: CommitIdentity | None = None) -> MergeResult:
    """Merge `source` into branch `target`: fast-forward if possible, else a merge commit.

    On conflict raises MergeConflict and changes nothing. If `target` is checked out in one of the
    repository's worktrees, its index and files follow (refused if it is dirty where the merge writes).
    `before_update(old_tip, new_tip)` runs last before the target moves (the runner's merge gate):
    whatever it raises propagates with nothing changed.
    """
    ref = _branch_ref(repo, target)
    src = rev_parse(repo, f"{source}^{{commit}}")
    old = _tip(repo, ref)
    if old is None:
        raise WorktreeError(f"no branch {target!r} in {repo}")
    if _is_ancestor(repo, src, old):
        return MergeResult(commit=old, fast_forward=True, up_to_date=True)
    if _is_ancestor(repo, old, src):
        new, ff = src, True
    else:
        new, ff = _merge_commit(repo, src, old, source, target, message, identity), False
        fault_point("merge.commit-written")
    if before_update is not None:
        before_update(old, new)
    notes = _move_branch(repo, ref, old, new, target)
    return MergeResult(commit=new, fast_forward=ff, notes=notes)


def _merge_commit(repo: Path, src: str, old: str, source: str, target: str, message: str,
                  identity: CommitIdentity | None) -> str:
    # No attributes from the trees or the user's attributes file, no configured driver: a stranger's merge.
    empty_tree = git_trusted(repo, "hash-object", "-t", "tree", os.devnull).stdout.decode().strip()
    flags = (*no_driver_flags(repo), "-c", f"attr.tree={empty_tree}", "-c", "core.attributesFile=/dev/null")
    proc = git_trusted(repo, "merge-tree", "--write-tree", "-z", "--name-only", "--no-messages", old, src,
                       flags=flags, env={"GIT_ATTR_NOSYSTEM": "1"}, check=False)
    fields = proc.stdout.split(b"\0")
    if proc.returncode == 1:
        paths = sorted({f.decode("utf-8", "replace") for f in fields[1:] if f})
        raise MergeConflict(source, target, paths)
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace").strip()
        raise WorktreeError(f"git merge-tree failed: {tail}")
    tree = fields[0].decode().strip()
    text = (message.strip() or f"Merge {source} into {target}") + "\n"
    return git_trusted(repo, "commit-tree", tree, "-p", old, "-p", src, "-F", "-", input=text.encode(),
                       env=identity_env(repo, identity)).stdout.decode().strip()


def checked_out_in(repo: Path, ref: str) -> Path | None:
    """The worktree of the user's repository where `ref` (refs/heads/...) is checked out, if any."""
    out = git_trusted(repo, "worktree", "list", "--porcelain", "-z").stdout.decode("utf-8", "surrogateescape")
    path = None
    for field in out.split("\0"):
        if field.startswith("worktree "):
            path = Path(field[len("worktree "):])
        elif field == f"branch {ref}" and path is not None:
            return path
    return None


def _move_branch(repo: Path, ref: str, old: str, new: str, target: str) -> list[str]:
    wt = checked_out_in(repo, ref)
    if wt is None:
        git_trusted(repo, "update-ref", "-m", f"codex-sandbox: merge into {target}", ref, new, old)
        return []
    return move_checked_out_branch(repo, wt, ref, old, new, target)
