"""Find the programs the product runs: next to the running interpreter first, then on PATH.

A user who runs `.venv/bin/codex-sandbox` (or a pipx / `uv tool` install) has the tools its
dependencies ship (semgrep, ruff, detect-secrets) beside the interpreter, not on PATH.

`CODEX_SANDBOX_DISABLE_TOOLS=ruff,semgrep` makes the named tools unavailable to this process (read
here and nowhere else): how a test or a user sees what the gates do when a tool is missing.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
from functools import lru_cache
from pathlib import Path

DISABLE_ENV = "CODEX_SANDBOX_DISABLE_TOOLS"
# Programs that ship inside another tool's wheel: disabling the tool disables them too.
PARTS = {"semgrep": ("semgrep-core",)}


def install_dirs() -> list[Path]:
    """The scripts directories of this installation, most specific first (never resolved: a venv's
    `python` is a symlink to the base interpreter, whose directory is not the venv's)."""
    dirs = [Path(sys.executable).parent, Path(sysconfig.get_path("scripts")), Path(sys.prefix) / "bin"]
    seen: list[Path] = []
    for d in dirs:
        if d not in seen:
            seen.append(d)
    return seen


def disabled_tools() -> set[str]:
    """The tools CODEX_SANDBOX_DISABLE_TOOLS names, with the programs shipped inside them."""
    names = {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}
    return names | {part for n in names for part in PARTS.get(n, ())}


def is_disabled(name: str) -> bool:
    return name in disabled_tools()


def _executable(candidate: Path) -> bool:
    return candidate.is_file() and os.access(candidate, os.X_OK)


@lru_cache(maxsize=64)
def _locate(name: str) -> str | None:
    for d in install_dirs():
        if _executable(d / name):
            return str(d / name)
    return shutil.which(name)


def find_tool(name: str) -> str | None:
    """Absolute path of the executable `name` from this installation, else from PATH; None if absent
    (or disabled by CODEX_SANDBOX_DISABLE_TOOLS)."""
    if is_disabled(name):
        return None
    return _locate(name)


def find_module(tool: str, module: str) -> bool:
    """Whether the Python package of `tool` (used in-process, e.g. detect-secrets) can be imported."""
    if is_disabled(tool):
        return False
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing_reason(name: str, module: str = "") -> str:
    """Why find_tool(name) (or find_module(name, module)) found nothing, in one line."""
    if is_disabled(name):
        return f"{name} is disabled by {DISABLE_ENV}"
    if module:
        return f"{name} is not installed: no module {module!r} in {sys.executable}"
    where = ", ".join(str(d) for d in install_dirs())
    return f"{name} is not installed: not found beside the interpreter ({where}) nor on PATH"


def require_tool(name: str, hint: str = "") -> str:
    """find_tool, or FileNotFoundError naming where it looked."""
    found = find_tool(name)
    if found is None:
        raise FileNotFoundError(missing_reason(name) + (f"; {hint}" if hint else ""))
    return found


def entry_point(name: str = "codex-sandbox") -> str:
    """A console script of this installation (never one from PATH, which may be another install)."""
    for d in install_dirs():
        if _executable(d / name):
            return str(d / name)
    where = ", ".join(str(d) for d in install_dirs())
    raise FileNotFoundError(f"{name} is not installed beside {sys.executable} ({where}); run `make install`")


def tool_version(path: str, *args: str) -> str:
    """The first line a tool prints for `--version` (or `args`); '' when it cannot tell."""
    try:
        proc = subprocess.run([path, *(args or ("--version",))], capture_output=True, text=True,
                              timeout=30, check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    text = (proc.stdout or proc.stderr).strip()
    return text.splitlines()[0] if text else ""
