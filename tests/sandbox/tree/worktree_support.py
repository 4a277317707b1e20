"""Helpers for worktree, extraction and commit/merge tests: repo snapshots and a canary trap for host-side git."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

_TRAP_VARS = ("GIT_EXTERNAL_DIFF", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_PARAMETERS", "GIT_PAGER")


def git(repo: Path, *args: str, input: str | None = None) -> str:
    """The test's own git, never armed by the `trap` fixture's environment."""
    env = {k: v for k, v in os.environ.items() if k not in _TRAP_VARS}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                          input=input, env=env).stdout.strip()


def snapshot(repo: Path) -> dict[str, str]:
    """What must be byte-identical after a refused tree: HEAD, every ref, the index."""
    gd = repo / ".git"
    index = gd / "index"
    return {
        "HEAD": (gd / "HEAD").read_text(),
        "refs": git(repo, "for-each-ref", "--format=%(refname) %(objectname)"),
        "index": hashlib.sha256(index.read_bytes()).hexdigest() if index.exists() else "",
        "status": git(repo, "status", "--porcelain", "--untracked-files=all"),
    }


def write_canary_script(bin_dir: Path, canary: Path) -> Path:
    """A program that, if anything on the host ever runs it, leaves `canary` behind."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "canary.sh"
    script.write_text(f"#!/bin/sh\necho \"$0 $*\" >> '{canary}'\ncat >/dev/null 2>&1 || true\nexit 0\n")
    script.chmod(0o755)
    return script


def plant_evil_gitdir(evil: Path, script: Path, worktree: Path) -> None:
    """A git dir whose config runs `script` from fsmonitor, hooks, filters, gpg and external diff."""
    subprocess.run(["git", "init", "-q", "--bare", str(evil)], check=True, capture_output=True)
    hooks = evil / "hooks"
    hooks.mkdir(exist_ok=True)
    for hook in ("pre-commit", "post-checkout", "post-merge", "pre-auto-gc", "reference-transaction",
                 "post-index-change", "fsmonitor-watchman"):
        (hooks / hook).write_text(f"#!/bin/sh\nexec '{script}' hook-{hook}\n")
        (hooks / hook).chmod(0o755)
    (evil / "config").write_text(
        "[core]\n"
        "\trepositoryformatversion = 0\n"
        "\tbare = false\n"
        f"\tworktree = {worktree}\n"
        f"\tfsmonitor = {script}\n"
        f"\thooksPath = {hooks}\n"
        f"\tpager = {script}\n"
        "[filter \"evil\"]\n"
        f"\tclean = {script} clean\n"
        f"\tsmudge = {script} smudge\n"
        "\trequired = true\n"
        "[diff]\n"
        f"\texternal = {script}\n"
        "[diff \"evil\"]\n"
        f"\ttextconv = {script}\n"
        "[gpg]\n"
        f"\tprogram = {script}\n"
        "[commit]\n"
        "\tgpgsign = true\n"
    )


def make_fifo(path: Path) -> None:
    os.mkfifo(path)
