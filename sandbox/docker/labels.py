"""Labels on every Docker object we create, so `gc` can find orphans."""

from __future__ import annotations

import hashlib
from pathlib import Path

PREFIX = "io.codex-sandbox"
MANAGED = f"{PREFIX}.managed"
REPO = f"{PREFIX}.repo"
REPO_ID = f"{PREFIX}.repo-id"
TASK = f"{PREFIX}.task"
RUN = f"{PREFIX}.run"
PID = f"{PREFIX}.owner-pid"
KIND = f"{PREFIX}.kind"


def repo_id(repo: Path) -> str:
    """A short stable id for a repository path."""
    return hashlib.sha256(str(Path(repo).resolve()).encode()).hexdigest()[:16]


def run_labels(repo: Path, run_id: str, task_id: str | None = None, kind: str = "run", pid: int | None = None):
    import os

    labels = {
        MANAGED: "true",
        REPO: str(Path(repo).resolve()),
        REPO_ID: repo_id(repo),
        RUN: run_id,
        KIND: kind,
        PID: str(pid if pid is not None else os.getpid()),
    }
    if task_id:
        labels[TASK] = task_id
    return labels
