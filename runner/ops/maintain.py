"""`maintain upgrade|patch|refactor`: add tasks to the DAG that go through the normal build → verify path."""

from __future__ import annotations

from pathlib import Path

from runner.errors import InvalidInput

UPGRADE_TEXT = (
    "Upgrade the project's dependencies to their newest compatible releases: edit the dependency files "
    "({files}), update any lock file, adapt the code to breaking changes, and keep every test passing "
    "(`codex-sandbox verify run` must pass)."
)


def dependency_files(repo: Path) -> list[str]:
    from runner.verify.detect import detect

    return detect(repo).dep_files


def add_maintenance_task(store, repo: Path, kind: str, description: str | None = None):
    """Add one upgrade/patch/refactor task (OBSERVING → MAINTAINING in lifecycle mode); returns it."""
    from runner.state import lifecycle
    from runner.state.models import Task

    if kind not in ("upgrade", "patch", "refactor"):
        raise InvalidInput(f"unknown maintenance kind {kind!r}")
    text = (description or "").strip()
    if kind != "upgrade" and not text:
        raise InvalidInput(f'describe the {kind}: codex-sandbox maintain {kind} "..."')
    mode = lifecycle.require(store, "maintain")
    if kind == "upgrade":
        files = dependency_files(repo)
        title = "Upgrade dependencies" + (f": {text}" if text else "")
        body = UPGRADE_TEXT.format(files=", ".join(files) or "none found; look for them") + (
            f"\n\nNotes: {text}" if text else ""
        )
        targets = files
    else:
        title = f"{kind.capitalize()}: {text.splitlines()[0]}"
        body = text + "\n\nKeep every test passing (`codex-sandbox verify run` must pass)."
        targets = []
    task = Task(
        type=kind,
        title=title[:200],
        description=body,
        target_files=targets,
        priority=1,
        verification="codex-sandbox verify run",
    )
    with store.transaction():
        store.add_task(task, actor="user", details={"source": "maintain"})
        if mode == "lifecycle" and store.lifecycle_state() == "OBSERVING":
            lifecycle.transition(store, "MAINTAINING", reason=f"{kind} task {task.id}")
    return task
