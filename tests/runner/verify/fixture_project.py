"""A small Python project with one failing test and one real dependency (fetched from PyPI on the host)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import git

CALC = """def add(a, b):
    return a + b


def mul(a, b):
    return a + b  # bug
"""
TESTS = """import iniconfig

from calc import add, mul


def test_add():
    assert add(2, 3) == 5


def test_mul():
    assert mul(3, 4) == 12


def test_dependency_importable():
    assert iniconfig.IniConfig
"""
FIX_PATCH = (
    "*** Begin Patch\n"
    "*** Update File: calc.py\n"
    "@@\n"
    " def mul(a, b):\n"
    "-    return a + b  # bug\n"
    "+    return a * b\n"
    "*** End Patch"
)


def write_project(repo: Path) -> str:
    """Add the project to `repo` and commit; returns the commit."""
    (repo / "calc.py").write_text(CALC)
    (repo / "tests").mkdir(exist_ok=True)
    (repo / "tests" / "test_calc.py").write_text(TESTS)
    (repo / "requirements.txt").write_text("iniconfig==2.0.0\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "calc with tests")
    return git(repo, "rev-parse", "HEAD")
