"""Shared helpers for the build tests: a repo wired to a scripted model, the CLI in-process, git queries."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import yaml
from tests.ci_support import missing_prerequisite

# Obviously fake, shaped like a real project key; the tests assert it never reaches the container.
FAKE_KEY = "sk-proj-T3stOnlyNotARealKey9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1ZzYyXx"


def codex_image() -> str:
    """The built codex image (the real Codex CLI); in CI a missing image fails instead of skipping."""

    from sandbox.errors import ImageError
    from sandbox.docker.images import require_image

    try:
        return require_image("codex")
    except ImageError as exc:
        missing_prerequisite(str(exc))


def configure(repo: Path, base_url: str, **sections) -> None:
    """Write .codex/config.yaml pointing the gateway at `base_url`, plus any section overrides."""
    cfg: dict = {"llm": {"base_url": base_url}, "build": {"max_attempts": 1}}
    for section, values in sections.items():
        cfg.setdefault(section, {}).update(values)
    path = repo / ".codex" / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg))


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """Run the real CLI entry in-process (cwd must be the repo); return (exit code, stdout, stderr)."""
    from runner.cli.main import main

    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def add_task(capsys, text: str, *targets: str) -> str:
    """`task add` through the CLI; the new task's id."""
    args = ["--json", "task", "add", text]
    for t in targets:
        args += ["--target-file", t]
    code, out, err = cli(capsys, *args)
    assert code == 0, err
    data = json.loads(out)
    return data["task"]["id"]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


def branch_exists(repo: Path, name: str) -> bool:
    return subprocess.run(["git", "-C", str(repo), "rev-parse", "--verify", "-q", f"refs/heads/{name}"],
                          capture_output=True, check=False).returncode == 0


def db_rows(repo: Path, sql: str, *params) -> list[tuple]:
    with sqlite3.connect(repo / ".codex" / "state.db") as db:
        return db.execute(sql, params).fetchall()


def run_dir(repo: Path, task_id: str) -> Path:
    """The newest run folder of a task."""
    runs = sorted((repo / ".codex" / "runs" / task_id).iterdir())
    assert runs, f"no run folder for {task_id}"
    return runs[-1]


def leftover_containers(repo: Path) -> list[str]:
    """Containers still labelled with this repo (there must be none after a command)."""
    from sandbox.docker import labels
    from sandbox.docker.client import get_client

    found = get_client().containers.list(all=True, filters={"label": f"{labels.REPO_ID}={labels.repo_id(repo)}"})
    return [c.name for c in found]


def live_worktrees(repo: Path) -> list[str]:
    """Registered worktrees still in use: anything but the repo itself and idle (unleased) pool trees."""
    out = git(repo, "worktree", "list", "--porcelain")
    paths = [Path(line.split(" ", 1)[1]) for line in out.splitlines() if line.startswith("worktree ")]
    live = []
    for p in paths:
        if p.resolve() == repo.resolve():
            continue
        idle_pool = p.name.startswith("pool-") and not (p.parent / f"{p.name}.lease").exists()
        if not idle_pool:
            live.append(str(p))
    return live
