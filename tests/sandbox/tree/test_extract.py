"""Normal change sets: what a run changed, read from objects in the repo, patch and stats right."""

from __future__ import annotations

import os
import time

import pytest
from tests.sandbox.tree.worktree_support import git, snapshot

from sandbox.tree.extract import blob_id, escape_for_terminal, extract_changes
from sandbox.tree.worktree import WorktreeManager

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def mgr(repo):
    (repo / "bin").mkdir()
    (repo / "bin" / "tool.sh").write_text("#!/bin/sh\necho hi\n")
    (repo / "docs").mkdir()
    (repo / "docs" / "guide.md").write_text("one\ntwo\nthree\n")
    (repo / ".gitignore").write_text("*.pyc\nbuild/\n!keep.pyc\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "more files")
    return WorktreeManager(repo, pool_size=1)


def _by_path(cs):
    return {f.path: f for f in cs.files}


def test_add_modify_delete(mgr, repo):
    before = snapshot(repo)
    with mgr.checkout("r1") as wt:
        (wt.path / "app.py").write_text("def add(a, b):\n    return a + b + 0\n")
        (wt.path / "new.txt").write_text("hello\nworld\n")
        (wt.path / "docs" / "guide.md").unlink()
        cs = extract_changes(wt)
    files = _by_path(cs)
    assert {p: f.status for p, f in files.items()} == {
        "app.py": "modified", "new.txt": "added", "docs/guide.md": "deleted"}
    assert (files["app.py"].lines_added, files["app.py"].lines_removed) == (1, 1)
    assert (files["new.txt"].lines_added, files["new.txt"].size) == (2, 12)
    assert files["docs/guide.md"].lines_removed == 3 and files["docs/guide.md"].new_blob is None
    assert files["new.txt"].new_blob == blob_id(b"hello\nworld\n", "sha1")
    assert cs.stats() == {"files_added": 1, "files_modified": 1, "files_deleted": 1,
                          "lines_added": 3, "lines_removed": 4, "binary_files": 0}
    assert "+    return a + b + 0" in cs.patch and "deleted file mode 100644" in cs.patch
    # the objects are in the user's repo; its refs, index and files are not touched
    assert git(repo, "cat-file", "-p", f"{cs.tree}:new.txt") == "hello\nworld"
    assert git(repo, "diff-tree", "-r", "--name-only", cs.base_commit, cs.tree).split() == [
        "app.py", "docs/guide.md", "new.txt"]
    assert snapshot(repo) == before


def test_binary_exec_bit_and_symlink(mgr, repo):
    with mgr.checkout("r2") as wt:
        (wt.path / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
        os.chmod(wt.path / "bin" / "tool.sh", 0o755)
        (wt.path / "latest.md").symlink_to("docs/guide.md")
        cs = extract_changes(wt)
    files = _by_path(cs)
    assert files["logo.png"].binary and files["logo.png"].status == "added"
    assert "Binary files /dev/null and b/logo.png differ" in cs.patch
    tool = files["bin/tool.sh"]
    assert (tool.status, tool.old_mode, tool.new_mode, tool.old_blob == tool.new_blob) == (
        "modified", "100644", "100755", True)
    link = files["latest.md"]
    assert (link.new_mode, link.new_blob) == ("120000", blob_id(b"docs/guide.md", "sha1"))
    assert cs.stats()["binary_files"] == 1


def test_rename_is_a_delete_plus_an_add_of_the_same_blob(mgr, repo):
    with mgr.checkout("r3") as wt:
        os.rename(wt.path / "docs" / "guide.md", wt.path / "docs" / "manual.md")
        cs = extract_changes(wt)
    files = _by_path(cs)
    assert files["docs/guide.md"].status == "deleted" and files["docs/manual.md"].status == "added"
    assert files["docs/guide.md"].old_blob == files["docs/manual.md"].new_blob
    assert "+++ b/docs/manual.md" in cs.patch and "--- a/docs/guide.md" in cs.patch


def test_file_directory_swap(mgr, repo):
    with mgr.checkout("r4") as wt:
        (wt.path / "app.py").unlink()
        (wt.path / "app.py").mkdir()
        (wt.path / "app.py" / "__init__.py").write_text("x = 1\n")
        (wt.path / "docs" / "guide.md").unlink()
        (wt.path / "docs").rmdir()
        (wt.path / "docs").write_text("now a file\n")
        cs = extract_changes(wt)
    assert {f.path: f.status for f in cs.files} == {
        "app.py": "deleted", "app.py/__init__.py": "added", "docs": "added", "docs/guide.md": "deleted"}
    assert git(repo, "ls-tree", "--name-only", cs.tree).split() == [".gitignore", "README.md", "app.py", "bin", "docs"]


def test_ignored_files_are_left_out(mgr, repo):
    with mgr.checkout("r5") as wt:
        (wt.path / "mod.pyc").write_bytes(b"\x00junk")
        (wt.path / "keep.pyc").write_bytes(b"kept")
        (wt.path / "build" / "deep").mkdir(parents=True)
        (wt.path / "build" / "deep" / "out.o").write_bytes(b"obj")
        os.mkfifo(wt.path / "build" / "fifo")  # never opened: ignored content is not read at all
        (wt.path / ".gitignore").write_text("*.pyc\n")  # the run's own .gitignore is not obeyed
        (wt.path / "out.pyc").write_bytes(b"x")
        cs = extract_changes(wt)
    assert sorted(f.path for f in cs.files) == [".gitignore", "keep.pyc"]


def test_no_change_and_forged_mtime(mgr, repo):
    with mgr.checkout("r6") as wt:
        cs = extract_changes(wt)
        assert cs.empty and cs.tree == git(repo, "rev-parse", "HEAD^{tree}") and cs.patch == ""
        # same size, mtime put back: the stat cache must still see it (ctime cannot be forged)
        target = wt.path / "app.py"
        st = target.stat()
        time.sleep(0.02)
        target.write_text(target.read_text().replace("a + b", "a - b"))
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert target.stat().st_size == st.st_size
        cs = extract_changes(wt)
    assert [f.path for f in cs.files] == ["app.py"]


def test_without_a_pool_record(repo):
    """An overflow tree (pool of 0) has no stat record; everything is hashed and the result is the same."""
    mgr = WorktreeManager(repo, pool_size=0)
    with mgr.checkout("r7") as wt:
        assert wt.path.name == "run-r7"
        (wt.path / "README.md").write_text("# changed\n")
        cs = extract_changes(wt)
    assert [f.path for f in cs.files] == ["README.md"]
    assert not wt.path.exists()


def test_escape_for_terminal():
    assert escape_for_terminal("ok\n\tline") == "ok\n\tline"
    assert escape_for_terminal("a\x1b[31mred\x07") == "a\\x1b[31mred\\x07"
    assert escape_for_terminal("evil\u202etxt.exe") == "evil\\u202etxt.exe"
    assert escape_for_terminal("x\ny", keep_newlines=False) == "x\\x0ay"
    assert escape_for_terminal("\x9b2J") == "\\x9b2J"


def test_gitignore_rules_come_from_the_base_commit(repo):
    (repo / "vendor").mkdir()
    (repo / "vendor" / "tracked.txt").write_text("t\n")
    (repo / "sub").mkdir()
    (repo / "sub" / ".gitignore").write_text("*.log\n!keep.log\n")
    (repo / ".gitignore").write_text("vendor/\n")
    git(repo, "add", "-A")
    git(repo, "add", "-f", "vendor/tracked.txt")
    git(repo, "commit", "-qm", "ignores")
    (repo / ".git" / "info" / "exclude").write_text("*.tmp\n")
    mgr = WorktreeManager(repo, pool_size=1)
    with mgr.checkout("g1") as wt:
        (wt.path / "vendor" / "tracked.txt").write_text("changed\n")  # tracked: never ignored
        (wt.path / "vendor" / "untracked.txt").write_text("u\n")  # inside an ignored dir: left out
        (wt.path / "sub" / "debug.log").write_text("d\n")
        (wt.path / "sub" / "keep.log").write_text("k\n")
        (wt.path / "scratch.tmp").write_text("s\n")
        (wt.path / "top.log").write_text("only sub/ ignores *.log\n")
        cs = extract_changes(wt)
    assert sorted(f.path for f in cs.files) == ["sub/keep.log", "top.log", "vendor/tracked.txt"]


def test_worktrees_are_private_to_the_host_user(repo):
    mgr = WorktreeManager(repo, pool_size=1)
    with mgr.checkout("p1"):
        assert os.stat(mgr.root).st_mode & 0o777 == 0o700


def test_per_file_cap_is_about_what_the_run_wrote(repo):
    from sandbox.errors import HostileTreeError
    from sandbox.settings import ExtractCaps

    (repo / "big.bin").write_bytes(b"\0" * 5000)
    git(repo, "add", "big.bin")
    git(repo, "commit", "-qm", "big base file")
    caps = ExtractCaps(max_file_bytes=1000)
    mgr = WorktreeManager(repo, pool_size=1)
    with mgr.checkout("c1") as wt:
        (wt.path / "small.txt").write_text("ok\n")
        assert [f.path for f in extract_changes(wt, caps).files] == ["small.txt"]
        (wt.path / "big.bin").write_bytes(b"\1" * 5000)
        with pytest.raises(HostileTreeError, match="per-file cap"):
            extract_changes(wt, caps)


def test_sha256_repository(tmp_path):
    from sandbox.git.integrate import commit_changeset

    repo = tmp_path / "r256"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main", "--object-format=sha256")
    (repo / "a.txt").write_text("a\n")
    (repo / "gone.txt").write_text("g\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")
    mgr = WorktreeManager(repo, pool_size=1)
    with mgr.checkout("s1") as wt:
        assert len(wt.base_commit) == 64
        (wt.path / "a.txt").write_text("b\n")
        (wt.path / "gone.txt").unlink()
        (wt.path / "ln").symlink_to("a.txt")
        cs = extract_changes(wt)
    assert {f.path: f.status for f in cs.files} == {"a.txt": "modified", "gone.txt": "deleted", "ln": "added"}
    assert _by_path(cs)["ln"].new_blob == blob_id(b"a.txt", "sha256")
    sha = commit_changeset(repo, cs, branch=wt.branch, message="m", trailers={"Run-Id": "s1"})
    assert git(repo, "show", f"{sha}:a.txt") == "b"
