"""Find the programs the product runs: next to the running interpreter first, then on PATH.

A user who runs `.venv/bin/codex-sandbox` (or a pipx / `uv tool` install) has the tools its
dependencies ship (semgrep, ruff, detect-secrets) beside the interpreter, not on PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from functools import lru_cache
from pathlib import Path


def install_dirs() -> list[Path]:
    """The scripts directories of this installation, most specific first (never resolved: a venv's
    `python` is a symlink to the base interpreter, whose directory is not the venv's)."""
    dirs = [Path(sys.executable).parent, Path(sysconfig.get_path("scripts")), Path(sys.prefix) / "bin"]
    seen: list[Path] = []
    for d in dirs:
        if d not in seen:
            seen.append(d)
    return seen


@lru_cache(maxsize=64)
def find_tool(name: str) -> str | None:
    """Absolute path of the executable `name` from this installation, else from PATH; None if absent."""
    for d in install_dirs():
        candidate = d / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which(name)


def require_tool(name: str, hint: str = "") -> str:
    """find_tool, or FileNotFoundError naming where it looked."""
    found = find_tool(name)
    if found is None:
        where = ", ".join(str(d) for d in install_dirs())
        raise FileNotFoundError(f"{name} not found beside the interpreter ({where}) nor on PATH"
                                + (f"; {hint}" if hint else ""))
    return found


def tool_version(path: str, *args: str) -> str:
    """The first line a tool prints for `--version` (or `args`); '' when it cannot tell."""
    try:
        proc = subprocess.run([path, *(args or ("--version",))], capture_output=True, text=True,
                              timeout=30, check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    text = (proc.stdout or proc.stderr).strip()
    return text.splitlines()[0] if text else ""
