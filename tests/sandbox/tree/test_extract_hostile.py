"""Every hostile-tree case is refused with a clear reason, fast, with no host-side git run and the repo untouched."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
from pathlib import Path

import pytest
from tests.sandbox.tree.worktree_support import git, plant_evil_gitdir, snapshot, write_canary_script

from sandbox.errors import HostileTreeError
from sandbox.tree.extract import extract_changes
from sandbox.settings import ExtractCaps
from sandbox.tree.worktree import WorktreeManager

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def trap(tmp_path, monkeypatch):
    """A canary program, wired into everything a host-side git could be tricked into running."""
    canary = tmp_path / "CANARY"
    script = write_canary_script(tmp_path / "bin", canary)
    evil_cfg = tmp_path / "evil-global.gitconfig"
    evil_cfg.write_text(f"[core]\n\tfsmonitor = {script}\n\thooksPath = {tmp_path}\n[diff]\n\texternal = {script}\n")
    # Inherited environment that would redirect or arm git, were it passed through.
    monkeypatch.setenv("GIT_EXTERNAL_DIFF", str(script))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(evil_cfg))
    monkeypatch.setenv("GIT_CONFIG_PARAMETERS", f"'core.fsmonitor'='{script}'")
    monkeypatch.setenv("GIT_PAGER", str(script))
    return canary, script


def _refuse(repo: Path, trap, mutate, caps: ExtractCaps | None = None) -> tuple[HostileTreeError, Path]:
    canary, script = trap
    mgr = WorktreeManager(repo, pool_size=1)
    with mgr.checkout("warm"):  # the pool slot exists, as in a real second run
        pass
    before = snapshot(repo)
    with mgr.checkout("hostile") as wt:
        mutate(wt.path, script)
        with pytest.raises(HostileTreeError) as info:
            extract_changes(wt, caps or ExtractCaps())
        path = wt.path
    assert not canary.exists(), canary.read_text()
    assert snapshot(repo) == before
    _assert_not_live(repo, path)
    return info.value, path


def _assert_not_live(repo: Path, path: Path) -> None:
    """After the run the tree is gone or back at its base: never left as the container made it."""
    if not os.path.lexists(path):
        return
    found = sorted(str(p.relative_to(path)) for p in path.rglob("*") if not p.is_dir() or p.is_symlink())
    entries = [line.split("\t", 1) for line in git(repo, "ls-tree", "-r", "HEAD").splitlines()]
    assert found == sorted([".git", *(p for meta, p in entries if not meta.startswith("160000"))])
    for meta, p in entries:
        if meta.startswith("160000"):  # submodules stay empty directories
            assert list((path / p).iterdir()) == []


def _gitfile_rewritten(t: Path, script: Path) -> None:
    plant_evil_gitdir(t / ".evil", script, t)
    (t / ".gitattributes").write_text("* filter=evil diff=evil\n")
    (t / ".git").write_text(f"gitdir: {t / '.evil'}\n")


def _gitfile_to_dir(t: Path, script: Path) -> None:
    (t / ".git").unlink()
    plant_evil_gitdir(t / ".git", script, t)


def _gitfile_to_symlink(t: Path, script: Path) -> None:
    plant_evil_gitdir(t.parent / f"{t.name}-evil", script, t)
    (t / ".git").unlink()
    (t / ".git").symlink_to(t.parent / f"{t.name}-evil")


def _gitfile_removed(t: Path, script: Path) -> None:
    (t / ".git").unlink()


def _gitfile_replaced_same_bytes(t: Path, script: Path) -> None:
    data = (t / ".git").read_bytes()
    (t / ".git").unlink()
    (t / ".git").write_bytes(data)  # same content, new inode: not the file the host wrote


@pytest.mark.parametrize("mutate", [_gitfile_rewritten, _gitfile_to_dir, _gitfile_to_symlink, _gitfile_removed,
                                    _gitfile_replaced_same_bytes])
def test_changed_dotgit_is_refused_and_never_run(repo, trap, mutate):
    err, _ = _refuse(repo, trap, mutate)
    assert err.path == ".git"
    assert ".git" in err.reason


def test_the_trap_is_real(repo, trap, tmp_path):
    """Positive control: plain host git in such a tree does run the attacker's programs."""
    canary, script = trap
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a.txt").write_text("x\n")
    _gitfile_rewritten(tree, script)
    subprocess.run(["git", "-C", str(tree), "add", "-A"], capture_output=True, check=False)
    assert canary.exists()


ALIASES = [".GIT", ".Git", ".git.", ".git ", ".git. .", ".git\u200c", "\ufeff.git", ".g\u200dit", "GIT~1", "git~2",
           ".git::$INDEX_ALLOCATION"]


@pytest.mark.parametrize("alias", ALIASES)
@pytest.mark.parametrize("kind", ["file", "dir"])
@pytest.mark.slow
def test_dotgit_aliases_are_refused(repo, trap, alias, kind):
    def mutate(t, _):
        target = t / "src" / alias
        target.parent.mkdir()
        if kind == "dir":
            target.mkdir()
            (target / "config").write_text("[core]\n\thooksPath = /tmp\n")
        else:
            target.write_text("gitdir: /somewhere\n")

    err, _ = _refuse(repo, trap, mutate)
    assert err.path.startswith("src/") and len(err.path) > len("src/")
    assert ".git" in err.reason or "nested repository" in err.reason


@pytest.mark.parametrize("alias", [".GIT", ".git.", "git~1"])
def test_dotgit_alias_at_top_level(repo, trap, alias):
    err, _ = _refuse(repo, trap, lambda t, _: (t / alias).mkdir())
    assert "aliases .git" in err.reason


def test_nested_repository_is_refused(repo, trap):
    def mutate(t, script):
        (t / "vendor" / "lib").mkdir(parents=True)
        plant_evil_gitdir(t / "vendor" / ".git", script, t / "vendor")
        (t / "vendor" / "lib" / "code.py").write_text("x = 1\n")

    err, _ = _refuse(repo, trap, mutate)
    assert err.path == "vendor/.git"
    assert "nested repository" in err.reason


def test_fifo_is_refused_without_hanging(repo, trap):
    err, _ = _refuse(repo, trap, lambda t, _: os.mkfifo(t / "pipe"))
    assert (err.path, err.reason) == ("pipe", "is a FIFO")


def test_socket_is_refused(repo, trap):
    socks = []

    def mutate(t, _):
        s = socket.socket(socket.AF_UNIX)
        socks.append(s)
        cwd = os.getcwd()
        os.chdir(t)  # a relative name: the full path may exceed the 108-byte socket path limit
        try:
            s.bind("sock")
        finally:
            os.chdir(cwd)

    try:
        err, _ = _refuse(repo, trap, mutate)
    finally:
        for s in socks:
            s.close()
    assert (err.path, err.reason) == ("sock", "is a socket")


@pytest.mark.skipif(os.geteuid() != 0, reason="creating a device node needs root (as on CI)")
def test_device_is_refused(repo, trap):
    err, _ = _refuse(repo, trap, lambda t, _: os.mknod(t / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3)))
    assert err.reason == "is a device node"


def test_setuid_file_is_refused(repo, trap):
    def mutate(t, _):
        (t / "tool").write_text("#!/bin/sh\n")
        os.chmod(t / "tool", 0o4755)

    err, _ = _refuse(repo, trap, mutate)
    assert (err.path, err.reason) == ("tool", "setuid/setgid bit set")


def test_setgid_directory_is_refused(repo, trap):
    def mutate(t, _):
        (t / "shared").mkdir()
        os.chmod(t / "shared", 0o2755)

    err, _ = _refuse(repo, trap, mutate)
    assert err.reason == "setuid/setgid bit set"


@pytest.mark.parametrize("target,why", [
    ("/etc/passwd", "absolute symlink"),
    ("../../../../etc", "leaves the tree"),
    ("sub/../../outside", "leaves the tree"),
    (".git/config", "symlink into .git"),
    (".GIT/hooks", "symlink into .git"),
])
def test_bad_symlinks_are_refused(repo, trap, target, why):
    def mutate(t, _):
        (t / "sub").mkdir()
        (t / "link").symlink_to(target)

    err, _ = _refuse(repo, trap, mutate)
    assert err.path == "link"
    assert why in err.reason


def test_symlink_escaping_through_another_symlink_is_refused(repo, trap):
    """Lexically `d/e/hop/../../..` stays inside; resolved through `hop` it leaves the tree."""
    def mutate(t, _):
        (t / "d" / "e").mkdir(parents=True)
        (t / "top").mkdir()
        (t / "d" / "e" / "hop").symlink_to("../../top")
        (t / "sneaky").symlink_to("d/e/hop/../../..")

    err, _ = _refuse(repo, trap, mutate)
    assert err.path == "sneaky" and "leaves the tree" in err.reason


def test_symlink_loop_is_refused(repo, trap):
    def mutate(t, _):
        (t / "a").symlink_to("b/x")
        (t / "b").symlink_to("a/y")

    err, _ = _refuse(repo, trap, mutate)
    assert "loops" in err.reason


@pytest.mark.parametrize("rel", [".gitattributes", "sub/.gitattributes", ".GitAttributes", ".gitattributes.",
                                 ".gitmodules", "sub/.gitmodules", "GITMOD~1"])
def test_new_gitattributes_or_gitmodules_is_refused(repo, trap, rel):
    def mutate(t, _):
        (t / rel).parent.mkdir(exist_ok=True)
        (t / rel).write_text("* filter=evil\n" if "att" in rel.lower() else "[submodule \"x\"]\n\tpath = x\n")

    err, _ = _refuse(repo, trap, mutate)
    assert err.path == rel
    assert "changes .git" in err.reason


def test_changed_or_deleted_gitattributes_is_refused(repo, trap):
    (repo / ".gitattributes").write_text("*.sh text eol=lf\n")
    git(repo, "add", ".gitattributes")
    git(repo, "commit", "-qm", "attributes")
    err, _ = _refuse(repo, trap, lambda t, _: (t / ".gitattributes").write_text("* filter=evil\n"))
    assert err.path == ".gitattributes"
    err, _ = _refuse(repo, trap, lambda t, _: (t / ".gitattributes").unlink())
    assert "changes .gitattributes" in err.reason


@pytest.mark.parametrize("caps,mutate,why", [
    (ExtractCaps(max_files=5), lambda t: [(t / f"f{i}").write_text("x") for i in range(10)], "files (cap)"),
    (ExtractCaps(max_bytes=1000), lambda t: (t / "big").write_bytes(b"x" * 2000), "bytes (cap)"),
    (ExtractCaps(max_file_bytes=100), lambda t: (t / "big").write_bytes(b"x" * 101), "per-file cap"),
    (ExtractCaps(max_depth=4), lambda t: (t / "a/b/c/d/e").mkdir(parents=True), "levels (cap)"),
])
def test_caps(repo, trap, caps, mutate, why):
    err, _ = _refuse(repo, trap, lambda t, _: mutate(t), caps)
    assert why in err.reason


def test_control_characters_in_new_names_are_refused(repo, trap):
    err, _ = _refuse(repo, trap, lambda t, _: (t / "evil\x1b[2Jname").write_text("x"))
    assert "control character" in err.reason
    assert "\x1b" not in str(err)  # the message itself is safe to print


def test_non_utf8_names_are_refused(repo, trap):
    def mutate(t, _):
        with open(os.path.join(os.fsencode(t), b"bad\xffname"), "w") as fh:
            fh.write("x")

    err, _ = _refuse(repo, trap, mutate)
    assert "not valid UTF-8" in err.reason


def test_content_inside_a_submodule_path_is_refused(repo, trap):
    sub = git(repo, "rev-parse", "HEAD")
    git(repo, "update-index", "--add", "--cacheinfo", f"160000,{sub},vendored")
    git(repo, "commit", "-qm", "submodule")
    err, _ = _refuse(repo, trap, lambda t, _: (t / "vendored" / "payload.py").write_text("x"))
    assert err.path == "vendored/payload.py"
    assert "submodule" in err.reason


def test_refused_tree_is_destroyed_and_the_pool_rebuilt(repo, trap):
    _, path = _refuse(repo, trap, _gitfile_rewritten)
    assert not os.path.lexists(path)
    mgr = WorktreeManager(repo, pool_size=1)
    with mgr.checkout("after") as wt:
        assert wt.path == path
        assert (wt.path / "app.py").read_text() == (repo / "app.py").read_text()
        assert extract_changes(wt).empty
    assert "evil" not in git(repo, "worktree", "list")


def test_missing_tree_is_a_clear_refusal(repo, trap):
    mgr = WorktreeManager(repo, pool_size=0)
    with mgr.checkout("gone") as wt:
        shutil.rmtree(wt.path)
        wt.path.symlink_to("/etc")
        with pytest.raises(HostileTreeError, match="cannot scan the tree"):
            extract_changes(wt)
    assert not os.path.lexists(wt.path)
    assert os.path.exists("/etc/passwd")


def test_accepted_tree_commit_and_merge_run_nothing_inherited(repo, trap):
    """With the environment armed, a clean run still goes through extract, commit and merge untouched."""
    from sandbox.git.integrate import commit_changeset, merge_branch

    canary, _ = trap
    mgr = WorktreeManager(repo, pool_size=1)
    with mgr.checkout("ok") as wt:
        (wt.path / "app.py").write_text("def add(a, b):\n    return b + a\n")
        cs = extract_changes(wt)
    sha = commit_changeset(repo, cs, branch=wt.branch, message="swap", trailers={"Run-Id": "ok"})
    assert merge_branch(repo, wt.branch, "main", message="m").commit == sha
    assert (repo / "app.py").read_text().endswith("return b + a\n")
    assert not canary.exists()


def costly_links(t: Path, count: int) -> None:
    """Links whose targets are as long as a target may be, many pointing through others: the old
    resolver re-expanded every step and took minutes on a few hundred of them."""
    (t / "d").mkdir()
    (t / "d" / "f.txt").write_text("f\n")
    (t / "l0").symlink_to("d")
    for i in range(1, count):
        prev = f"l{i - 1}" if i % 30 else "d"  # chains of 30 links: under the kernel's 40 hops
        (t / f"l{i}").symlink_to(prev + "/." * 2000)


@pytest.mark.slow
def test_costly_symlinks_are_checked_in_linear_time(repo):
    import time

    mgr = WorktreeManager(repo, pool_size=0)
    took = {}
    for count in (150, 600):
        with mgr.checkout(f"links-{count}") as wt:
            costly_links(wt.path, count)
            started = time.perf_counter()
            changes = extract_changes(wt)
            took[count] = time.perf_counter() - started
        assert len(changes.files) == count + 1
    assert took[600] < 10, took  # the old resolver: minutes
    assert took[600] < 4 * took[150] * 2.5, took  # 4x the links, about 4x the time (with slack for noise)
