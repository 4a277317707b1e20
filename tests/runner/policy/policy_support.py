"""Shared helpers: real temp repos, staged diffs, and the engine on them."""

from __future__ import annotations

import subprocess
from pathlib import Path

from runner.policy import evaluate_changes
from runner.policy.gitchanges import staged_changeset


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


def write(repo: Path, files: dict[str, str | bytes]) -> None:
    for rel, content in files.items():
        path = repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def commit(repo: Path, files: dict[str, str | bytes], message: str = "change") -> str:
    write(repo, files)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def check_staged(repo: Path, files: dict[str, str | bytes], **kwargs):
    """Write `files`, stage them, and run the engine on the staged diff."""
    write(repo, files)
    git(repo, "add", "-A")
    return evaluate_changes(repo, staged_changeset(repo), **kwargs)
