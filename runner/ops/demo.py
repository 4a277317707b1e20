"""`demo`: one task end to end on the bundled sample repo, with the OFFLINE DEMO MODEL (a recorded script).

The model is the scripted model server answering from `runner/data/demo_script.json` — no key, no network.
Everything else is real: the Codex CLI in the hardened container, the gateway, extraction, gates, commit.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from runner.errors import InvalidInput

DEMO_TASK = "Add a multiply(a, b) function to calc.py, with a test in tests/test_calc.py"
DEMO_TARGETS = ["calc.py", "tests/test_calc.py"]
DEMO_KEY = "offline-demo-model-needs-no-key"  # what the gateway sends upstream; the scripted server ignores it


def _data(name: str) -> dict[str, Any]:
    return json.loads(resources.files("runner").joinpath("data", name).read_text(encoding="utf-8"))


def demo_script() -> dict[str, Any]:
    """The recorded script of the offline demo model (keys starting with `_` are notes)."""
    return {k: v for k, v in _data("demo_script.json").items() if not k.startswith("_")}


def _git(repo: Path, *args: str) -> str:
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise InvalidInput(f"git {' '.join(args)} failed in {repo}: {proc.stderr.strip()}")
    return proc.stdout.strip()


def create_sample_repo(path: Path) -> Path:
    """Write the bundled sample project into `path` (new or empty) and commit it on `main`."""
    path = Path(path)
    if path.exists() and any(path.iterdir()):
        raise InvalidInput(f"demo workspace {path} is not empty; give a new or empty directory")
    path.mkdir(parents=True, exist_ok=True)
    for name, text in _data("sample_repo.json")["files"].items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    _git(path, "init", "-q", "-b", "main")
    _git(path, "add", "-A")
    _git(path, "-c", "user.name=codex-sandbox demo", "-c", "user.email=demo@codex-sandbox.invalid",
         "commit", "-q", "-m", "calc: initial sample project")
    return path


@dataclass
class DemoOutcome:
    """What the demo shows: the workspace, the build result and the commit as `git log -1` prints it."""

    workspace: Path
    task_id: str
    result: Any  # runner.build.attempt.BuildResult
    commit_log: str
    gate_report: dict[str, Any] | None


def run_demo(
    workspace: Path | None = None,
    *,
    progress: Callable[[str], None] = lambda message: None,
    build_images: bool = True,
    docker_host: str | None = None,
) -> DemoOutcome:
    """Copy the sample repo, start the offline demo model, build one task through the real pipeline
    (on the engine at `docker_host`, None: the local one)."""
    from runner.build.result import BuildEnv
    from runner.config.load import load_config
    from runner.fsutil import ensure_git_excluded
    from runner.state.models import Task
    from runner.build.commands import build_next
    from runner.state.store import Store
    from sandbox.scripted_model.server import ScriptedModelServer

    root = create_sample_repo(workspace or Path(tempfile.mkdtemp(prefix="codex-sandbox-demo-")))
    progress(f"sample repo: {root}")
    if build_images:
        from sandbox.docker.images import ensure_images

        progress("checking the sandbox images (built once, cached afterwards)")
        ensure_images(["codex"])
    ensure_git_excluded(root)
    with Store.open(root) as store:
        task = store.add_task(
            Task(type="implement", title="Add multiply() to calc", description=DEMO_TASK, target_files=DEMO_TARGETS),
            actor="user", details={"adhoc": True, "via": "demo"},
        )
    progress(f"task {task.id}: {DEMO_TASK}")
    with ScriptedModelServer(demo_script()) as model:
        progress(f"OFFLINE DEMO MODEL: scripted model server at {model.base_url} (a recorded script, not a real model)")
        config = load_config(root, environ={}, overrides={"llm": {"base_url": model.base_url, "mode": "live"}}).config
        try:
            result = build_next(BuildEnv(root=root, config=config, api_key=DEMO_KEY, progress=progress, command="demo",
                                            docker_host=docker_host))
        finally:
            from sandbox.tree.worktree import WorktreeManager

            WorktreeManager(root).gc(include_idle=True)  # a throwaway sample repo keeps no warm (mounted) pool
    if result is None:  # cannot happen: we just added the only task
        raise InvalidInput("the demo task was not ready")
    log = ""
    if result.ok:
        log = _git(root, "log", "-1", "--stat", "--format=commit %H%nAuthor: %an <%ae>%n%n%B", result.commit or "HEAD")
    gates = None
    gates_path = Path(result.run_dir or "") / "gates.json"
    if gates_path.is_file():
        gates = json.loads(gates_path.read_text(encoding="utf-8"))
    return DemoOutcome(workspace=root, task_id=task.id, result=result, commit_log=log, gate_report=gates)
