"""Which test runner a project uses, and which files define its dependencies."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from pydantic import BaseModel

PY_MARKERS = (
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
    "requirements.txt",
    "pytest.ini",
    "tox.ini",
    "conftest.py",
)


class Detected(BaseModel):
    """The project's ecosystem, its test command and its dependency specs."""

    ecosystem: str  # python | node
    command: str
    requirements: list[str] = []  # pip requirement lines (python)
    dep_files: list[str] = []  # files whose content keys the dependency cache


def _pyproject_deps(path: Path) -> list[str]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return []
    project = data.get("project") or {}
    deps = list(project.get("dependencies") or [])
    optional = project.get("optional-dependencies") or {}
    for extra in ("test", "tests", "dev"):
        deps += list(optional.get(extra) or [])
    return [str(d) for d in deps]


def _requirements(path: Path, seen: set[Path] | None = None) -> list[str]:
    """Requirement lines, following `-r other.txt` inside the tree; options and comments dropped."""
    seen = seen or set()
    if path in seen or not path.is_file() or path.is_symlink():
        return []
    seen.add(path)
    out: list[str] = []
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("-r ", "--requirement ")):
            out += _requirements(path.parent / line.split(None, 1)[1], seen)
        elif not line.startswith("-"):
            out.append(line)
    return out


def detect(tree: Path, configured: str | None = None) -> Detected:
    """pytest for Python, npm test for Node; `configured` overrides the command."""
    tree = Path(tree)
    if (tree / "package.json").is_file() and not any((tree / m).exists() for m in PY_MARKERS):
        files = [
            f for f in ("package.json", "package-lock.json", "npm-shrinkwrap.json") if (tree / f).is_file()
        ]
        try:
            has_test = "test" in (json.loads((tree / "package.json").read_text()).get("scripts") or {})
        except (OSError, ValueError):
            has_test = False
        return Detected(
            ecosystem="node",
            command=configured or ("npm test" if has_test else "npm test --if-present"),
            dep_files=files,
        )
    reqs: list[str] = []
    files: list[str] = []
    for name in (
        "requirements.txt",
        "requirements-dev.txt",
        "requirements-test.txt",
        "test-requirements.txt",
    ):
        if (tree / name).is_file():
            reqs += _requirements(tree / name)
            files.append(name)
    if (tree / "pyproject.toml").is_file():
        reqs += _pyproject_deps(tree / "pyproject.toml")
        files.append("pyproject.toml")
    # Unique, order kept; pytest itself comes with the image.
    unique = list(
        dict.fromkeys(
            r
            for r in reqs
            if r.split("[")[0].split("=")[0].split(">")[0].split("<")[0].strip().lower()
            not in ("pytest", "pytest-cov", "coverage")
        )
    )
    return Detected(
        ecosystem="python", command=configured or "python3 -m pytest", requirements=unique, dep_files=files
    )
