"""Helpers shared by the bench scripts (imported as `_common` when a script runs as `python bench/x.py`)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from pathlib import Path


def make_repo(path: Path, files: int) -> Path:
    """Create a git repo at `path` with `files` small Python modules in one commit."""
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    for i in range(files):
        d = path / f"pkg{i // 500:03d}"
        d.mkdir(exist_ok=True)
        (d / f"mod{i:05d}.py").write_text(f"VALUE = {i}\n")
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@example.invalid",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@example.invalid",
    }
    subprocess.run(["git", "-C", str(path), "add", "-A"], check=True, env=env)
    subprocess.run(["git", "-C", str(path), "commit", "-q", "-m", "bench"], check=True, env=env)
    return path


def cli() -> str:
    """The codex-sandbox entry point of the interpreter running the bench (never a bare name from PATH)."""
    from sandbox.tools import entry_point

    try:
        return entry_point("codex-sandbox")
    except FileNotFoundError as exc:
        raise SystemExit(str(exc)) from None


def tool(name: str) -> str:
    """A program the product runs, found as the product finds it: beside the interpreter, then on PATH."""
    from sandbox.tools import require_tool

    try:
        return require_tool(name)
    except FileNotFoundError as exc:
        raise SystemExit(str(exc)) from None


@contextlib.contextmanager
def scratch_dir(prefix: str):
    """A temporary directory that is also the bench's XDG_STATE_HOME parent; capped worktree
    filesystems mounted under it are unmounted before it is removed."""
    from sandbox.tree.capfs import unmount_below

    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        try:
            yield tmp
        finally:
            unmount_below(Path(tmp))
