"""Worktrees: outside the repo, pooled and reset in place, rebuilt on tampering, reaped after crashes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from tests.sandbox.tree.worktree_support import git, snapshot

from sandbox.errors import WorktreeError
from sandbox.tree.extract import extract_changes
from sandbox.tree.worktree import WorktreeManager, state_dir_for

pytestmark = pytest.mark.timeout(60)


def _tree_files(path: Path) -> dict[str, bytes]:
    out = {}
    for p in path.rglob("*"):
        rel = str(p.relative_to(path))
        if rel == ".git":
            continue
        if p.is_symlink():
            out[rel] = b"-> " + os.fsencode(os.readlink(p))
        elif p.is_file():
            out[rel] = p.read_bytes()
    return out


def _commit_files(repo: Path, rev: str = "HEAD") -> dict[str, bytes]:
    out = {}
    for line in git(repo, "ls-tree", "-r", rev).splitlines():
        meta, name = line.split("\t", 1)
        data = subprocess.run(["git", "-C", str(repo), "show", f"{rev}:{name}"], capture_output=True, check=False).stdout
        out[name] = b"-> " + data if meta.startswith("120000") else data
    return out


def test_state_dir_is_outside_the_repo(repo, tmp_path):
    state = state_dir_for(repo)
    assert state.parent == Path(os.environ["XDG_STATE_HOME"]) / "codex-sandbox"
    assert state.name.startswith("repo-")
    mgr = WorktreeManager(repo)
    with mgr.checkout("r1") as wt:
        assert wt.path.is_relative_to(state / "worktrees")
        assert not wt.path.is_relative_to(repo)
        assert wt.branch == "codex/r1" and wt.base_commit == git(repo, "rev-parse", "HEAD")
        assert wt.git_dir == repo / ".git"
        assert (wt.path / ".git").read_text() == wt.gitfile and wt.gitfile.startswith("gitdir: ")
        assert _tree_files(wt.path) == _commit_files(repo)
        assert str(wt.path) in git(repo, "worktree", "list")
        assert os.stat(wt.path / "app.py").st_mode & 0o777 == 0o644
        if os.geteuid() == 0:  # the sandbox user (1000) must be able to write the tree
            assert (os.stat(wt.path).st_uid, os.stat(wt.path / "app.py").st_uid) == (1000, 1000)
    assert "codex/r1" not in git(repo, "branch", "--list")


def test_checkout_of_an_older_base_and_switching_bases(repo):
    first = git(repo, "rev-parse", "HEAD")
    (repo / "app.py").unlink()
    (repo / "pkg").mkdir()
    (repo / "pkg" / "mod.py").write_text("X = 1\n")
    (repo / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(repo / "run.sh", 0o755)
    os.symlink("pkg/mod.py", repo / "alias.py")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "second")
    mgr = WorktreeManager(repo, pool_size=1)
    for base in (first, "HEAD", first, "main"):
        with mgr.checkout("r", base=base) as wt:
            assert _tree_files(wt.path) == _commit_files(repo, base)
            assert wt.base_commit == git(repo, "rev-parse", base)
            assert extract_changes(wt).empty
            if wt.base_commit != first:
                assert os.stat(wt.path / "run.sh").st_mode & 0o777 == 0o755


def test_pool_reuses_and_resets_in_place(repo):
    mgr = WorktreeManager(repo, pool_size=1)
    with mgr.checkout("r1") as wt:
        path = wt.path
        keep_ino = os.stat(wt.path / "README.md").st_ino
        (wt.path / "app.py").write_text("changed\n")
        (wt.path / "extra" / "deep").mkdir(parents=True)
        (wt.path / "extra" / "deep" / "f").write_text("x")
        (wt.path / "README.md.bak").symlink_to("README.md")
        os.chmod(wt.path, 0o700)
    with mgr.checkout("r2") as wt:
        assert wt.path == path
        assert os.stat(wt.path / "README.md").st_ino == keep_ino  # untouched files are not rewritten
        assert _tree_files(wt.path) == _commit_files(repo)
        assert os.stat(wt.path).st_mode & 0o777 == 0o755
        assert extract_changes(wt).empty


@pytest.mark.parametrize("tamper", ["fifo", "gitfile", "hardlink", "setuid"])
def test_tampering_rebuilds_the_tree(repo, tamper):
    mgr = WorktreeManager(repo, pool_size=1)
    with mgr.checkout("r1") as wt:
        path = wt.path
        old_ctime = os.stat(wt.path / "README.md").st_ctime_ns
        time.sleep(0.05)
        if tamper == "fifo":
            os.mkfifo(wt.path / "pipe")
        elif tamper == "gitfile":
            (wt.path / ".git").write_text("gitdir: /tmp/elsewhere\n")
        elif tamper == "hardlink":
            os.link(wt.path / "README.md", wt.path / "copy")
        else:
            os.chmod(wt.path / "app.py", 0o4755)
    assert not os.path.lexists(path)  # never left live
    with mgr.checkout("r2") as wt:
        assert wt.path == path
        assert os.stat(wt.path / "README.md").st_ctime_ns > old_ctime + 30_000_000  # rewritten, not reused
        assert _tree_files(wt.path) == _commit_files(repo)
        assert extract_changes(wt).empty


def test_overflow_tree_when_the_pool_is_busy(repo):
    mgr = WorktreeManager(repo, pool_size=1)
    with mgr.checkout("a") as first, mgr.checkout("b") as second:
        assert first.path.name == "pool-0" and second.path.name == "run-b"
        (second.path / "x").write_text("x")
        assert [f.path for f in extract_changes(second).files] == ["x"]
        assert extract_changes(first).empty
    assert not second.path.exists() and first.path.exists()
    assert "run-b" not in git(repo, "worktree", "list")


def test_keep_keeps_the_branch_not_the_tree(repo):
    mgr = WorktreeManager(repo, pool_size=0)
    with mgr.checkout("k1", keep=True) as wt:
        (wt.path / "f").write_text("x")
    assert git(repo, "rev-parse", "codex/k1") == wt.base_commit
    assert not wt.path.exists()


def test_bad_inputs(repo):
    mgr = WorktreeManager(repo)
    with pytest.raises(WorktreeError, match="invalid run id"), mgr.checkout("../../etc"):
        pass
    with pytest.raises(WorktreeError, match="unknown base"), mgr.checkout("ok", base="no-such-branch"):
        pass
    with pytest.raises(WorktreeError, match="invalid branch"), mgr.checkout("ok", branch="bad..name"):
        pass


def test_exception_in_the_run_still_resets(repo):
    mgr = WorktreeManager(repo, pool_size=1)
    with pytest.raises(RuntimeError), mgr.checkout("r1") as wt:
        (wt.path / "junk").write_text("x")
        raise RuntimeError("boom")
    assert wt.path.exists() and not (wt.path / "junk").exists()
    assert not (mgr.root / "pool-0.lease").exists()


CRASH = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from sandbox.tree.worktree import WorktreeManager
    mgr = WorktreeManager(Path(sys.argv[1]), pool_size=int(sys.argv[2]))
    with mgr.checkout(sys.argv[3]) as wt:
        (wt.path / "half-written").write_text("x")
        print(wt.path, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
""")


@pytest.mark.parametrize("pool_size", [0, 1])
def test_sigkill_mid_run_then_gc(repo, pool_size):
    before = snapshot(repo)
    proc = subprocess.run([sys.executable, "-c", CRASH, str(repo), str(pool_size), "crashed"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == -signal.SIGKILL
    left = Path(proc.stdout.strip())
    assert (left / "half-written").exists()
    mgr = WorktreeManager(repo, pool_size=pool_size)
    assert mgr.gc(live_run_ids={"crashed"}) == []  # a run still reported live is left alone
    assert left in mgr.gc()
    assert not os.path.lexists(left)
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert snapshot(repo) == before
    with mgr.checkout("next") as wt:
        assert not (wt.path / "half-written").exists()
        assert extract_changes(wt).empty


def test_checkout_after_crash_without_gc_rebuilds(repo):
    subprocess.run([sys.executable, "-c", CRASH, str(repo), "1", "crashed"], capture_output=True, timeout=60,
                   check=False)
    mgr = WorktreeManager(repo, pool_size=1)
    with mgr.checkout("next") as wt:
        assert wt.path.name == "pool-0"
        assert not (wt.path / "half-written").exists()


def test_half_created_state_is_rebuilt(repo):
    mgr = WorktreeManager(repo, pool_size=1)
    with mgr.checkout("r1") as wt:
        path = wt.path
    (mgr.root / "pool-0.json").write_text("{truncated")  # as if killed while writing the record
    with mgr.checkout("r2") as wt:
        assert _tree_files(wt.path) == _commit_files(repo)
    # a tree dir with no record and no registration at all
    os.unlink(mgr.root / "pool-0.json")
    with mgr.checkout("r3") as wt:
        assert wt.path == path and extract_changes(wt).empty
    git(repo, "worktree", "prune")
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 2


def test_gc_keeps_idle_pool_trees(repo):
    mgr = WorktreeManager(repo, pool_size=1)
    with mgr.checkout("r1") as wt:
        pass
    assert mgr.gc() == [] and wt.path.exists()
    (mgr.root / ".trash-pool-0-deadbeef").mkdir()
    assert mgr.gc() == [mgr.root / ".trash-pool-0-deadbeef"]


def test_gc_skips_a_tree_a_live_process_holds(repo):
    mgr = WorktreeManager(repo, pool_size=1)
    with mgr.checkout("live") as wt:
        assert mgr.gc() == []
        assert wt.path.exists()


def test_reset_after_extraction_skips_only_what_is_still_clean(repo):
    (repo / "pkg").mkdir()
    for i in range(5):
        (repo / "pkg" / f"m{i}.py").write_text(f"{i}\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "pkg")
    mgr = WorktreeManager(repo, pool_size=1)
    with mgr.checkout("r1") as wt:
        (wt.path / "pkg" / "m1.py").write_text("changed\n")
        (wt.path / "app.py").unlink()
        (wt.path / "new").mkdir()
        (wt.path / "new" / "f").write_text("x")
        assert {f.path for f in extract_changes(wt).files} == {"pkg/m1.py", "app.py", "new/f"}
        # written after extraction (by our own process): the directory moved, so it is listed again
        (wt.path / "pkg" / "late.txt").write_text("late\n")
        untouched = os.stat(wt.path / "pkg" / "m3.py").st_ino
    with mgr.checkout("r2") as wt:
        assert _tree_files(wt.path) == _commit_files(repo)
        assert os.stat(wt.path / "pkg" / "m3.py").st_ino == untouched
        assert extract_changes(wt).empty


HOLD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from sandbox.tree.worktree import WorktreeManager
    with WorktreeManager(Path(sys.argv[1]), pool_size=1).checkout(sys.argv[2]) as wt:
        (wt.path / f"from-{sys.argv[2]}").write_text("x")
        print(wt.path.name, flush=True)
        time.sleep(1.5)
        print(sorted(p.name for p in wt.path.iterdir() if p.name.startswith("from-")), flush=True)
""")


@pytest.mark.slow
def test_two_processes_never_share_a_tree(repo):
    procs = [subprocess.Popen([sys.executable, "-c", HOLD, str(repo), name], stdout=subprocess.PIPE, text=True)
             for name in ("p1", "p2")]
    outs = [p.communicate(timeout=60)[0].split("\n") for p in procs]
    assert sorted(o[0] for o in outs) == ["pool-0", f"run-{'p2' if outs[0][0] == 'pool-0' else 'p1'}"]
    for name, out in zip(("p1", "p2"), outs):
        assert out[1] == str([f"from-{name}"])  # each saw only its own writes


def test_pooled_trees_carry_no_xattr_or_acl_over(repo):
    """Extended attributes (and the ACLs stored in them) a run plants on kept directories and files are
    gone for the next run on the same pooled tree."""
    mgr = WorktreeManager(repo, pool_size=1)
    with mgr.checkout("r1") as wt:
        first = wt.path
        (wt.path / "sub").mkdir()
        (wt.path / "sub" / "keep.txt").write_text("k\n")
    with mgr.checkout("r1b") as wt:
        pass
    planted = {first: "user.planted", first / "app.py": "user.note"}
    with mgr.checkout("r2") as wt:
        assert wt.path == first
        try:
            for path, name in planted.items():
                os.setxattr(path, name, b"from the last run")
        except OSError as exc:
            from tests.ci_support import missing_prerequisite

            missing_prerequisite(f"this filesystem takes no user xattrs: {exc}")
        acl = bytes.fromhex("02000000" "0100070000000000" "04000500" "00000000" "10000500" "00000000"
                            "20000500" "00000000")  # a minimal access ACL (u::rwx g::r-x o::r-x)
        os.setxattr(wt.path, "system.posix_acl_default", acl)
    with mgr.checkout("r3") as wt:
        assert wt.path == first
        left = {str(p): [n for n in os.listxattr(p) if n.startswith(("user.", "system.posix_acl"))]
                for p in (wt.path, wt.path / "app.py")}
        assert left == {str(wt.path): [], str(wt.path / "app.py"): []}


def test_gc_with_include_idle_drops_the_warm_pool(repo):
    mgr = WorktreeManager(repo, pool_size=1)
    with mgr.checkout("r1") as wt:
        path = wt.path
    assert mgr.gc() == [] and path.exists()  # the warm cache stays
    assert mgr.gc(include_idle=True) == [path]
    assert not path.exists()
    assert str(path) not in git(repo, "worktree", "list", "--porcelain")
