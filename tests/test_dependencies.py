"""pyproject's dependencies are exact: every third-party import is declared, every declaration is used."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
OWN = {"runner", "sandbox", "tests"}
# Declared at runtime because the product runs them as programs, not because it imports them.
TOOLS = {"semgrep", "ruff"}
# Declared ahead of its first import: sandbox.git moves onto GitPython next.
NOT_YET_IMPORTED = {"gitpython"}
# Declared for tests but never imported: pytest loads it as a plugin (the `timeout` ini option).
PLUGINS = {"pytest-timeout"}


def _name(requirement: str) -> str:
    """The normalized distribution name of a requirement string ("ruamel.yaml>=0.18" -> "ruamel-yaml")."""
    bare = re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", bare).lower()


RUNTIME = {_name(r) for r in PROJECT["dependencies"]}
DEV = {_name(r) for r in PROJECT["optional-dependencies"]["dev"]}


def _imported_modules(*dirs: str) -> dict[str, set[str]]:
    """Top-level third-party module name -> the files importing it (at any depth, also inside functions)."""
    found: dict[str, set[str]] = {}
    for top in dirs:
        for path in (ROOT / top).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    module = name.split(".")[0]
                    local = (path.parent / f"{module}.py").exists()  # a sibling script's helper
                    if module in sys.stdlib_module_names or module in OWN or local:
                        continue
                    found.setdefault(module, set()).add(str(path.relative_to(ROOT)))
    return found


_packages_distributions = cache(packages_distributions)  # reads every installed distribution's metadata


def _distributions(module: str) -> set[str]:
    return {_name(d) for d in _packages_distributions().get(module, [module])}


def test_every_runtime_import_is_a_runtime_dependency():
    undeclared = {
        module: sorted(files)[:3]
        for module, files in _imported_modules("runner", "sandbox").items()
        if not _distributions(module) & RUNTIME
    }
    assert undeclared == {}


def test_every_runtime_dependency_is_imported_or_a_tool():
    imported = set().union(*map(_distributions, _imported_modules("runner", "sandbox")))
    assert sorted(RUNTIME - imported - TOOLS - NOT_YET_IMPORTED) == []
    assert TOOLS <= RUNTIME


def test_test_and_bench_imports_are_declared_and_dev_dependencies_are_used():
    undeclared = {
        module: sorted(files)[:3]
        for module, files in _imported_modules("tests", "bench").items()
        if not _distributions(module) & (RUNTIME | DEV)
    }
    assert undeclared == {}
    imported = set().union(*map(_distributions, _imported_modules("tests", "bench")))
    assert sorted(DEV - imported - PLUGINS) == []
    assert not DEV & RUNTIME  # a dependency is declared once
