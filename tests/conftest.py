"""Shared fixtures. Docker tests skip locally without an engine, and fail in CI rather than skip."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.ci_support import IN_CI

# Tests start their helper containers with testcontainers; its reaper container would be pulled
# from a registry, and every helper is removed by its own context manager anyway.
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")


def _engine_reachable() -> str | None:
    try:
        import docker

        client = docker.from_env(timeout=5)
        client.ping()
        client.close()
        return None
    except Exception as exc:  # any failure means "no engine here"
        return f"{type(exc).__name__}: {exc}"


def pytest_collection_modifyitems(config, items):
    if not any(item.get_closest_marker("docker") for item in items):
        return
    problem = _engine_reachable()
    if problem is None:
        return
    if IN_CI:  # a skipped integration test is a failed one in CI
        raise pytest.UsageError(f"CI=true but the Docker engine is unreachable: {problem}")
    for item in items:
        if item.get_closest_marker("docker"):
            item.add_marker(pytest.mark.skip(reason=f"Docker engine unreachable: {problem}"))


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Keep every test off the real ~/.codex and per-user state directory."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test User")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "test@example.invalid")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test User")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "test@example.invalid")
    for name in list(os.environ):
        if name.startswith("CODEX_"):
            monkeypatch.delenv(name, raising=False)
    yield
    from sandbox.tree.capfs import unmount_below

    unmount_below(home)  # pooled worktrees on their own capped filesystems stay mounted by design


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture(scope="session")
def _repo_template(tmp_path_factory) -> Path:
    """The `repo` fixture's repository, made once: each test gets its own copy."""
    path = tmp_path_factory.mktemp("template") / "repo"
    path.mkdir()
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(path.parent), "GIT_CONFIG_NOSYSTEM": "1",
           **{f"GIT_{who}_{what}": value for who in ("AUTHOR", "COMMITTER")
              for what, value in (("NAME", "Test User"), ("EMAIL", "test@example.invalid"))}}
    for args in (("init", "-q", "-b", "main"), ("add", "-A"), ("commit", "-q", "-m", "initial")):
        if args[0] == "add":
            (path / "README.md").write_text("# sample\n")
            (path / "app.py").write_text("def add(a, b):\n    return a + b\n")
        subprocess.run(["git", "-C", str(path), *args], check=True, capture_output=True, env=env)
    return path


@pytest.fixture
def repo(tmp_path, _repo_template) -> Path:
    """A small real git repository with one commit on `main` (a copy: git init and commit once a session)."""
    path = tmp_path / "repo"
    shutil.copytree(_repo_template, path, symlinks=True)
    # The copied index holds the template's inodes and ctimes: refresh it as a fresh commit leaves it.
    git(path, "update-index", "-q", "--refresh")
    return path
