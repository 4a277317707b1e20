"""Commit a change set with trailers; merge fast-forward, true merge and conflict (which changes nothing)."""

from __future__ import annotations

import pytest
from tests.sandbox.tree.worktree_support import git, snapshot

from sandbox.errors import MergeConflict, WorktreeError
from sandbox.tree.extract import extract_changes
from sandbox.git.integrate import commit_changeset, current_branch, merge_branch, rev_parse
from sandbox.tree.worktree import WorktreeManager

pytestmark = pytest.mark.timeout(60)


def _run(repo, run_id, edits: dict[str, str | None], base="HEAD"):
    """A 'run' that edits files in its worktree; returns its change set and branch."""
    mgr = WorktreeManager(repo, pool_size=1)
    with mgr.checkout(run_id, base=base) as wt:
        for rel, text in edits.items():
            if text is None:
                (wt.path / rel).unlink()
            else:
                (wt.path / rel).parent.mkdir(parents=True, exist_ok=True)
                (wt.path / rel).write_text(text)
        return extract_changes(wt), wt.branch


def _commit(repo, run_id, edits, base="HEAD"):
    cs, branch = _run(repo, run_id, edits, base)
    sha = commit_changeset(repo, cs, branch=branch, message=f"task {run_id}\n\nbody",
                           trailers={"Task-Id": "T-1", "Run-Id": run_id})
    return sha, branch, cs


def test_commit_changeset(repo):
    before = snapshot(repo)
    sha, branch, cs = _commit(repo, "r1", {"app.py": "changed\n", "new.md": "n\n"})
    assert git(repo, "rev-parse", branch) == sha
    assert git(repo, "rev-parse", f"{sha}^{{tree}}") == cs.tree
    assert git(repo, "rev-parse", f"{sha}^") == cs.base_commit
    assert git(repo, "log", "-1", "--format=%(trailers:key=Task-Id,valueonly)", sha) == "T-1"
    assert git(repo, "log", "-1", "--format=%(trailers:key=Run-Id,valueonly)", sha) == "r1"
    assert git(repo, "log", "-1", "--format=%s", sha) == "task r1"
    after = snapshot(repo)
    assert after.pop("refs").splitlines() == [f"refs/heads/{branch} {sha}", *before.pop("refs").splitlines()]
    assert after == before  # main, HEAD, index and files untouched


def test_commit_refuses_to_drop_commits_on_the_branch(repo):
    _commit(repo, "r1", {"a.txt": "1\n"})
    cs, _ = _run(repo, "r1b", {"b.txt": "2\n"})
    with pytest.raises(WorktreeError, match="refusing to move it"):
        commit_changeset(repo, cs, branch="codex/r1", message="m", trailers={})
    with pytest.raises(WorktreeError, match="invalid commit trailer"):
        commit_changeset(repo, cs, branch="codex/other", message="m", trailers={"Bad Key": "x"})


def test_fast_forward_updates_the_checked_out_branch(repo):
    sha, branch, _ = _commit(repo, "r1", {"app.py": "changed\n", "docs/new.md": "n\n", "README.md": None})
    result = merge_branch(repo, branch, "main", message="merge r1")
    assert (result.commit, result.fast_forward) == (sha, True)
    assert git(repo, "rev-parse", "main") == sha
    assert (repo / "app.py").read_text() == "changed\n" and (repo / "docs" / "new.md").exists()
    assert not (repo / "README.md").exists()
    assert git(repo, "status", "--porcelain") == ""
    again = merge_branch(repo, branch, "main", message="again")
    assert again.up_to_date and again.commit == sha


def test_merge_into_a_branch_that_is_not_checked_out(repo):
    git(repo, "branch", "integration")
    before = snapshot(repo)
    sha, branch, _ = _commit(repo, "r1", {"x.txt": "x\n"})
    merge_branch(repo, branch, "integration", message="m")
    assert git(repo, "rev-parse", "integration") == sha
    after = snapshot(repo)
    assert (after["HEAD"], after["index"], after["status"]) == (before["HEAD"], before["index"], before["status"])


def test_true_merge_commit_without_a_worktree(repo):
    base = git(repo, "rev-parse", "HEAD")
    sha, branch, _ = _commit(repo, "r1", {"feature.py": "f = 1\n"}, base=base)
    (repo / "README.md").write_text("# moved on\n")
    git(repo, "commit", "-qam", "main moved")
    main_tip = git(repo, "rev-parse", "HEAD")
    result = merge_branch(repo, branch, "main", message="Merge codex/r1")
    assert not result.fast_forward
    assert git(repo, "rev-parse", f"{result.commit}^1") == main_tip
    assert git(repo, "rev-parse", f"{result.commit}^2") == sha
    assert git(repo, "log", "-1", "--format=%s", result.commit) == "Merge codex/r1"
    assert (repo / "feature.py").read_text() == "f = 1\n"
    assert (repo / "README.md").read_text() == "# moved on\n"
    assert git(repo, "status", "--porcelain") == ""


def test_conflict_changes_nothing(repo):
    _, branch, _ = _commit(repo, "r1", {"app.py": "from the run\n"})
    (repo / "app.py").write_text("from the user\n")
    git(repo, "commit", "-qam", "user edit")
    (repo / "scratch.txt").write_text("untracked\n")
    before = snapshot(repo)
    with pytest.raises(MergeConflict) as info:
        merge_branch(repo, branch, "main", message="m")
    assert info.value.paths == ["app.py"]
    assert "app.py" in str(info.value)
    assert snapshot(repo) == before
    assert (repo / "app.py").read_text() == "from the user\n"


def test_dirty_checked_out_target_is_refused_clearly(repo):
    _, branch, _ = _commit(repo, "r1", {"app.py": "changed\n", "other.txt": "o\n"})
    (repo / "app.py").write_text("uncommitted work\n")
    before = snapshot(repo)
    with pytest.raises(WorktreeError, match="uncommitted changes the merge would overwrite: app.py"):
        merge_branch(repo, branch, "main", message="m")
    assert snapshot(repo) == before
    assert (repo / "app.py").read_text() == "uncommitted work\n"


def test_dirty_elsewhere_is_kept(repo):
    sha, branch, _ = _commit(repo, "r1", {"other.txt": "o\n"})
    (repo / "app.py").write_text("uncommitted work\n")
    (repo / "notes.txt").write_text("untracked\n")
    merge_branch(repo, branch, "main", message="m")
    assert git(repo, "rev-parse", "main") == sha
    assert (repo / "app.py").read_text() == "uncommitted work\n" and (repo / "other.txt").exists()
    assert sorted(line.strip() for line in git(repo, "status", "--porcelain").splitlines()) == [
        "?? notes.txt", "M app.py"]
    assert git(repo, "diff", "--cached", "--name-only") == ""  # the edit stays unstaged, as the user left it


def test_untracked_file_in_the_way_is_refused(repo):
    _, branch, _ = _commit(repo, "r1", {"new.txt": "from run\n"})
    (repo / "new.txt").write_text("user's untracked file\n")
    before = snapshot(repo)
    with pytest.raises(WorktreeError, match="new.txt"):
        merge_branch(repo, branch, "main", message="m")
    assert snapshot(repo) == before


def test_helpers(repo):
    assert current_branch(repo) == "main"
    assert rev_parse(repo) == git(repo, "rev-parse", "HEAD")
    assert rev_parse(repo, "main") == rev_parse(repo, "HEAD")
    with pytest.raises(WorktreeError, match="unknown revision"):
        rev_parse(repo, "--output=/tmp/x")
    git(repo, "checkout", "-q", "--detach")
    with pytest.raises(WorktreeError, match="detached"):
        current_branch(repo)
