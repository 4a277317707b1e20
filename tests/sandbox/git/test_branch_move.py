"""The move of a checked-out branch: killed at every step it recovers; it runs no configured driver and
never overwrites anything of the user's; commits carry an identity even where git has none."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.sandbox.tree.worktree_support import git

from sandbox.git.branch_move import journal_dir, journal_for, recover_moves
from sandbox.errors import WorktreeError
from sandbox.tree.extract import extract_changes
from sandbox.faults import FAULT_ENV, STEPS
from sandbox.git.integrate import commit_changeset, merge_branch
from sandbox.settings import CommitIdentity
from sandbox.tree.worktree import WorktreeManager

pytestmark = pytest.mark.timeout(120)

GIT_STEPS = [s for s in STEPS if not s.startswith("build.")]

# One task's commit and merge in a child process, so a fault point can SIGKILL it for real.
CHILD = """
import json, sys
from pathlib import Path
from sandbox.tree.extract import extract_changes
from sandbox.git.integrate import commit_changeset, merge_branch
from sandbox.tree.worktree import WorktreeManager
repo, base, edits = Path(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
with WorktreeManager(repo, pool_size=0).checkout("r1", base=base) as wt:
    for rel, text in edits.items():
        (wt.path / rel).parent.mkdir(parents=True, exist_ok=True)
        (wt.path / rel).write_text(text)
    cs = extract_changes(wt)
commit_changeset(repo, cs, branch="codex/t1", message="task t1", trailers={"Task-Id": "t1"})
merge_branch(repo, "codex/t1", "main", message="merge t1")
"""

EDITS = {"app.py": "def add(a, b):\n    return a + b + 0\n", "pkg/new_module.py": "X = 1\n", "docs/guide.md": "g\n"}


def _child(repo: Path, base: str, fault: str | None) -> subprocess.CompletedProcess:
    env = {**os.environ}
    env.pop(FAULT_ENV, None)
    if fault:
        env[FAULT_ENV] = fault
    return subprocess.run([sys.executable, "-c", CHILD, str(repo), base, json.dumps(EDITS)], env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def _user_work(repo: Path) -> None:
    """Uncommitted work of the user's on paths the task does not touch: it must survive anything."""
    (repo / "README.md").write_text("# sample\n\nmy unsaved notes\n")
    (repo / "scratch.txt").write_text("untracked, mine\n")


def _status(repo: Path) -> list[str]:
    return sorted(line.strip() for line in git(repo, "status", "--porcelain").splitlines())


USER_STATUS = ["?? scratch.txt", "M README.md"]


def _files_at(repo: Path, commit: str) -> dict[str, str | None]:
    out = {}
    for rel in EDITS:
        proc = subprocess.run(["git", "-C", str(repo), "show", f"{commit}:{rel}"], capture_output=True, text=True,
                              check=False)
        out[rel] = proc.stdout if proc.returncode == 0 else None
    return out


def _on_disk(repo: Path) -> dict[str, str | None]:
    return {rel: (repo / rel).read_text() if (repo / rel).exists() else None for rel in EDITS}


@pytest.mark.parametrize("fast_forward", [True, False], ids=["ff", "merge-commit"])
@pytest.mark.parametrize("step", GIT_STEPS)
@pytest.mark.slow
def test_a_kill_at_every_step_is_recovered_and_loses_nothing(repo, step, fast_forward):
    base = git(repo, "rev-parse", "main")
    if not fast_forward:  # the user moved main since the task's base: the merge makes a merge commit
        (repo / "CHANGES.md").write_text("a user's commit\n")
        git(repo, "add", "CHANGES.md")
        git(repo, "commit", "-q", "-m", "user change")
    _user_work(repo)
    before_main = git(repo, "rev-parse", "main")
    proc = _child(repo, base, step)
    if step == "merge.commit-written" and fast_forward:
        assert proc.returncode == 0, proc.stderr  # a fast-forward writes no merge commit: the step never comes
    else:
        assert proc.returncode == -9, f"{step}: {proc.returncode} {proc.stderr[-500:]}"

    recover_moves(repo)  # what the next command does first

    assert list(journal_dir(repo).glob("*.json")) == []
    main = git(repo, "rev-parse", "main")
    landed = git(repo, "log", "main", "--format=%(trailers:key=Task-Id,valueonly)").split()
    assert main == before_main or landed.count("t1") == 1
    assert _on_disk(repo) == _files_at(repo, main), f"{step}: the checkout does not match the branch"
    assert _status(repo) == USER_STATUS, step  # the user's work, nothing else
    assert (repo / "README.md").read_text().endswith("my unsaved notes\n")

    # and the task can still land, exactly once
    if main == before_main:
        if git(repo, "branch", "--list", "codex/t1"):
            merge_branch(repo, "codex/t1", "main", message="merge t1")
        else:
            assert _child(repo, base, None).returncode == 0
    log = git(repo, "log", "main", "--format=%(trailers:key=Task-Id,valueonly)").split()
    assert log.count("t1") == 1
    assert _on_disk(repo) == {k: v for k, v in EDITS.items()}
    assert _status(repo) == USER_STATUS


def test_a_checkout_killed_half_way_is_undone_file_by_file(repo):
    """The index never moved but some files were written (a kill inside `read-tree -u`): recovery puts
    back exactly what the move wrote and leaves a file the user created since at an added path alone."""
    base = git(repo, "rev-parse", "main")
    _user_work(repo)
    proc = _child(repo, base, "move.journaled")
    assert proc.returncode == -9
    new = git(repo, "rev-parse", "codex/t1")
    (repo / "app.py").write_text(EDITS["app.py"])  # written by the dead checkout
    (repo / "pkg").mkdir()
    (repo / "pkg" / "new_module.py").write_text(EDITS["pkg/new_module.py"])  # likewise
    (repo / "docs").mkdir()
    (repo / "docs" / "guide.md").write_text("the user's own guide, written after the crash\n")
    assert journal_for(repo, "refs/heads/main") is not None
    lines = recover_moves(repo)
    assert len(lines) == 1 and "undid" in lines[0]
    assert git(repo, "rev-parse", "main") == base != new
    assert (repo / "app.py").read_text() == "def add(a, b):\n    return a + b\n"
    assert not (repo / "pkg").exists()
    assert (repo / "docs" / "guide.md").read_text().startswith("the user's own guide")


def _changeset(repo: Path, edits: dict[str, str], run_id: str = "r1"):
    with WorktreeManager(repo, pool_size=0).checkout(run_id, base="main") as wt:
        for rel, text in edits.items():
            (wt.path / rel).parent.mkdir(parents=True, exist_ok=True)
            (wt.path / rel).write_text(text)
        return extract_changes(wt)


def _land(repo: Path, edits: dict[str, str], branch: str = "codex/t1"):
    cs = _changeset(repo, edits)
    commit_changeset(repo, cs, branch=branch, message="t", trailers={"Task-Id": "t"})
    return merge_branch(repo, branch, "main", message="merge")


def _write_filter_config(path: Path, canary: Path) -> None:
    cmd = f"\"sh -c 'touch {canary}; cat'\""  # quoted: a bare ';' starts a comment in git config
    path.write_text(f'[filter "evil"]\n\tsmudge = {cmd}\n\tclean = {cmd}\n\trequired = true\n'
                    f'[filter "lfs"]\n\tsmudge = {cmd}\n\tprocess = {cmd}\n'
                    f'[merge "evil"]\n\tdriver = {cmd}\n')


@pytest.mark.parametrize("where", ["global", "repo"])
def test_no_filter_or_driver_from_any_config_runs_during_the_merge(repo, tmp_path, where):
    canary = tmp_path / "payload-ran"
    (repo / ".gitattributes").write_text("*.dat filter=evil merge=evil\n*.bin filter=lfs\n")
    (repo / "shared.dat").write_text("one\ntwo\nthree\nfour\nfive\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "attributes")
    both_sides = _changeset(repo, {"shared.dat": "ONE\ntwo\nthree\nfour\nfive\n"}, run_id="r2")
    (repo / "shared.dat").write_text("one\ntwo\nthree\nfour\nFIVE\n")  # the user's own later edit
    git(repo, "commit", "-q", "-am", "user edit")
    # only now do the drivers exist: every git command from here on would run them if asked to
    if where == "global":
        _write_filter_config(Path(os.environ["HOME"]) / ".gitconfig", canary)
    else:
        _write_filter_config(repo / ".git" / "config.d", canary)
        git(repo, "config", "include.path", "config.d")

    result = _land(repo, {"payload.dat": "model data\n", "blob.bin": "not a pointer\n"})
    assert (repo / "payload.dat").read_text() == "model data\n"
    assert any("payload.dat" in n and "plain blob" in n for n in result.notes)
    commit_changeset(repo, both_sides, branch="codex/t2", message="t2", trailers={})
    merged = merge_branch(repo, "codex/t2", "main", message="merge t2")  # a true merge of a file both changed
    assert not merged.fast_forward
    assert (repo / "shared.dat").read_text() == "ONE\ntwo\nthree\nfour\nFIVE\n"
    assert not canary.exists()


@pytest.mark.parametrize("path", [".envrc", ".venv/bin/python"])
def test_an_ignored_file_of_the_user_at_a_path_the_change_writes_refuses_the_merge(repo, path):
    home = Path(os.environ["HOME"])
    (home / ".gitignore_global").write_text(".envrc\n.venv/\n")
    (home / ".gitconfig").write_text(f"[core]\n\texcludesFile = {home / '.gitignore_global'}\n")
    mine = repo / path
    mine.parent.mkdir(parents=True, exist_ok=True)
    mine.write_text("export SECRET_TOKEN=users-own-value\n")
    assert git(repo, "status", "--porcelain") == ""  # invisible to a plain dirty check
    before = git(repo, "rev-parse", "main")
    with pytest.raises(WorktreeError, match=path.split("/")[0]):
        _land(repo, {path: "payload\n"})
    assert mine.read_text() == "export SECRET_TOKEN=users-own-value\n"
    assert git(repo, "rev-parse", "main") == before


def test_a_symlinked_directory_of_the_user_in_the_way_refuses_the_merge(repo, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (repo / "out").symlink_to(outside)
    with pytest.raises(WorktreeError, match="out"):
        _land(repo, {"out/file.txt": "x\n"})
    assert list(outside.iterdir()) == []


def test_commits_carry_the_products_identity_when_git_has_none(repo, monkeypatch):
    for name in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("EMAIL", "")
    cs = _changeset(repo, {"x.txt": "x\n"})
    sha = commit_changeset(repo, cs, branch="codex/a", message="m", trailers={})
    assert git(repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>", sha) == \
        "codex-sandbox <codex-sandbox@localhost>|codex-sandbox <codex-sandbox@localhost>"
    custom = CommitIdentity(name="CI bot", email="ci-bot@example.invalid")
    cs2 = _changeset(repo, {"y.txt": "y\n"}, run_id="r2")
    sha2 = commit_changeset(repo, cs2, branch="codex/b", message="m", trailers={}, identity=custom)
    assert git(repo, "log", "-1", "--format=%an <%ae>", sha2) == "CI bot <ci-bot@example.invalid>"
    git(repo, "config", "user.name", "Real Person")
    git(repo, "config", "user.email", "real@example.invalid")
    cs3 = _changeset(repo, {"z.txt": "z\n"}, run_id="r3")
    sha3 = commit_changeset(repo, cs3, branch="codex/c", message="m", trailers={}, identity=custom)
    assert git(repo, "log", "-1", "--format=%an <%ae>", sha3) == "Real Person <real@example.invalid>"


def test_a_merge_driver_named_in_info_attributes_never_runs(repo, tmp_path):
    """`attr.tree` does not cover $GIT_DIR/info/attributes: the driver itself is replaced by `false`."""
    from sandbox.errors import MergeConflict

    canary = tmp_path / "driver-ran"
    (repo / "shared.dat").write_text("one\ntwo\nthree\nfour\nfive\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "data")
    both_sides = _changeset(repo, {"shared.dat": "ONE\ntwo\nthree\nfour\nfive\n"}, run_id="r2")
    (repo / "shared.dat").write_text("one\ntwo\nthree\nfour\nFIVE\n")
    git(repo, "commit", "-q", "-am", "user edit")
    (repo / ".git" / "info").mkdir(exist_ok=True)
    (repo / ".git" / "info" / "attributes").write_text("*.dat merge=evil\n")
    git(repo, "config", "merge.evil.driver", f"touch {canary}; cp %B %A")
    commit_changeset(repo, both_sides, branch="codex/t2", message="t2", trailers={})
    before = git(repo, "rev-parse", "main")
    with pytest.raises(MergeConflict):
        merge_branch(repo, "codex/t2", "main", message="merge t2")
    assert not canary.exists()
    assert git(repo, "rev-parse", "main") == before
