"""File helpers of the runner: crash-safe writes (shared with the sandbox) and git excludes."""

from __future__ import annotations

from pathlib import Path

from sandbox.fsutil import atomic_write

__all__ = ["atomic_write", "ensure_git_excluded"]


def ensure_git_excluded(root: Path, entry: str = ".codex/") -> None:
    """Keep `.codex/` out of `git status` and commits via .git/info/exclude (never .gitignore)."""
    git_dir = Path(root) / ".git"
    if not git_dir.is_dir():
        return
    exclude = git_dir / "info" / "exclude"
    try:
        current = exclude.read_text(encoding="utf-8") if exclude.exists() else ""
    except OSError:
        return
    if any(line.strip() in (entry, entry.rstrip("/"), "/" + entry) for line in current.splitlines()):
        return
    sep = "" if not current or current.endswith("\n") else "\n"
    atomic_write(exclude, f"{current}{sep}{entry}\n")
