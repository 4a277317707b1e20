"""The build commands: lock the repo, recover, check the lifecycle, pick the task, hand it to TaskBuilder.

`BuildEnv` is composed at the CLI edge (config, the API key read from the environment, progress output);
nothing below it reads global config or the environment.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from runner.build.result import BuildEnv, BuildResult, integration_branch
from runner.errors import InvalidInput, StateError
from runner.build.attempt import TaskBuilder
from sandbox.errors import SandboxError
from sandbox.git.branches import task_branch

__all__ = [
    "BuildEnv",
    "BuildResult",
    "build_all",
    "build_next",
    "build_scaffold",
    "build_task",
    "describe_plan",
    "integration_branch",
    "next_ready_task",
    "run_one",
]


# ----------------------------------------------------------------------------- the commands


def build_next(env: BuildEnv) -> BuildResult | None:
    """Build the next ready task; None when no task is ready (then nothing is checked: no key is needed)."""
    with _session(env, "build next", "build") as store:
        task = next_ready_task(store)
        if task is None:
            return None
        return TaskBuilder(env, store).build(task)


def build_task(env: BuildEnv, task_id: str) -> BuildResult:
    """Build one task by id, prefix or suffix (it must be pending or failed, with its dependencies completed)."""
    with _session(env, f"build task {task_id}", "build") as store:
        return TaskBuilder(env, store).build(_buildable(store, resolve_task(store, task_id)))


def build_all(env: BuildEnv, on_result: Callable[[BuildResult], None] | None = None) -> list[BuildResult]:
    """Build ready tasks one after another until none is ready or one fails."""
    results: list[BuildResult] = []
    with _session(env, "build all", "build") as store:
        builder = TaskBuilder(env, store)
        while (task := next_ready_task(store)) is not None:
            result = builder.build(task)
            results.append(result)
            if on_result is not None:
                on_result(result)
            if not result.ok:
                break
    return results


def run_one(env: BuildEnv, text: str) -> BuildResult:
    """`run "<task id or free text>"`: build an existing task, or add the text as an ad-hoc task and build it.

    An id-shaped reference that matches no task is an error, never a task titled with the id.
    """
    text = text.strip()
    if not text:
        raise InvalidInput("give a task id or a description of the task")
    with _session(env, "run", "run") as store:
        task = find_task_ref(store, text)
        if task is None:
            TaskBuilder(env, store).preflight(repo=True)  # nothing is added when the build could not start
            task = add_adhoc_task(store, text, via="run")
            env.progress(f"added ad-hoc task {task.id}: {task.title}")
        else:
            task = _buildable(store, task)
        return TaskBuilder(env, store).build(task)


def build_scaffold(env: BuildEnv) -> BuildResult:
    """`scaffold`: build the plan's scaffold task (SCAFFOLDING only); on success move to BUILDING."""
    from runner.state import lifecycle

    with _session(env, "scaffold", "scaffold") as store:
        builder = TaskBuilder(env, store)
        pending = [t for t in store.list_tasks() if t.type == "scaffold" and t.status in ("pending", "failed")]
        if pending:
            task = min(pending, key=lambda t: (t.priority, t.id))
        else:
            builder.preflight(repo=True)  # nothing is added when the build could not start
            plan = store.plan()
            summary = (plan.summary if plan else "") or "the project described by the plan"
            task = add_adhoc_task(store, f"Scaffold the project: {summary}", via="scaffold", task_type="scaffold")
        result = builder.build(task)
        if result.ok:
            lifecycle.transition(store, "BUILDING", reason=f"scaffold task {task.id} committed {result.commit}")
        return result


def find_task_ref(store, text: str):
    """The task `text` names by id, prefix or suffix; None when it is free text.

    InvalidInput when it names several tasks (listing them), or looks like a task id and names none.
    """
    from runner.state.tasks import ambiguous_message, id_shaped, matching_tasks

    if not re.fullmatch(r"[0-9A-Za-z]{4,26}", text):
        return None
    hits = matching_tasks(store, text)
    if len(hits) == 1:
        return hits[0]
    if hits:
        raise InvalidInput(ambiguous_message(text, hits))
    if id_shaped(text):
        raise InvalidInput(f"no task matches {text!r}, which looks like a task id (`codex-sandbox task list` "
                           "shows the ids); to build from a description, write it in words")
    return None


def resolve_task(store, ref: str):
    from runner.state.tasks import resolve_task as resolve

    return resolve(store, ref)


def add_adhoc_task(store, text: str, *, via: str, task_type: str | None = None):
    """A task from free text (the rules of `task add`); its type is guessed from the first word."""
    from runner.state.models import TASK_TYPES
    from runner.state.tasks import add_task, make_task

    words = text.split()
    first = words[0].lower().rstrip(":") if words else ""
    task = make_task(text, type_=task_type or (first if first in TASK_TYPES else "implement"))
    task = add_task(store, task)
    store.audit("task.created_by", task_id=task.id, details={"via": via})
    return task


def require_model_access(env: BuildEnv) -> None:
    """Fail before any task is touched when the live model cannot be called: OpenAI's API needs a key."""
    from runner.build.preflight import check_model_access

    check_model_access(env.config.llm, env.api_key)


@contextmanager
def _session(env: BuildEnv, command: str, action: str) -> Iterator:
    """The command session (store, repo lock, recovery, lifecycle check), yielding the open store.

    What the build itself needs (a commit, the engine, the image, a key) is checked per task, by
    TaskBuilder's preflight, only once there is something to build.
    """
    from runner.state.session import command_session

    with command_session(env.root, action, command=command, info=env.progress) as session:
        yield session.store


def next_ready_task(store):
    """The next ready task (the DAG rule: pending, dependencies completed, lowest priority, then id)."""
    from runner.state.dag import next_ready

    return next_ready(store.list_tasks())


def _buildable(store, task):
    if task.status == "completed":
        raise StateError(f"task {task.id} is already completed (commit {str(task.commit)[:12]})")
    if task.status == "running":
        raise StateError(f"task {task.id} is running in another command")
    if task.status not in ("pending", "failed"):
        raise StateError(f"task {task.id} is {task.status}; only pending or failed tasks can be built")
    missing = [d for d in task.dependencies if store.get_task(d).status != "completed"]
    if missing:
        raise StateError(f"task {task.id} waits for dependencies not completed yet: {', '.join(missing)}")
    return task


def describe_plan(env: BuildEnv, *, task_ref: str | None = None, adhoc: bool = False, action: str = "build") -> dict:
    """What a build would do (for --dry-run): reads the store if it exists, takes no lock, changes nothing."""
    from runner.build.result import codex_image_status

    cfg = env.config
    db = env.root / ".codex" / "state.db"
    plan: dict = {"dry_run": True, "repo": str(env.root)}
    task = None
    if db.exists():
        from runner.state.store import Store

        with Store.open(env.root) as store:
            plan["lifecycle"] = store.lifecycle_state()
            if task_ref:
                task = find_task_ref(store, task_ref.strip()) if adhoc else resolve_task(store, task_ref)
            elif action == "scaffold":
                task = next((t for t in store.list_tasks() if t.type == "scaffold" and t.status == "pending"), None)
            else:
                task = next_ready_task(store)
    else:
        plan["lifecycle"] = "IDLE (no .codex/state.db yet: it is created on the first real run)"
    if task is not None:
        plan["task"] = f"{task.id} [{task.type}] {task.title} ({task.status}, {task.attempts} attempt(s) so far)"
        branch = task_branch(task.id)
    elif task_ref and adhoc:
        plan["task"] = f"new ad-hoc task: {' '.join(task_ref.split())[:80]}"
        branch = task_branch("<new task id>")
    else:
        plan["task"] = "none ready: nothing would be built"
        return plan
    problems = _preflight_problems(env, task)
    try:
        target = integration_branch(env)
    except (StateError, SandboxError) as exc:
        target = f"(unresolved: {exc})"
    plan["image"] = codex_image_status(cfg.sandbox.base_image)
    plan["model"] = f"{cfg.llm.model} via the gateway → {cfg.llm.base_url} (mode {cfg.llm.mode})"
    try:
        require_model_access(env)
        plan["api_key"] = f"{cfg.llm.api_key_env}: {'set' if env.api_key else 'not needed here'}"
    except InvalidInput as exc:
        plan["api_key"] = f"MISSING — {exc}"
    plan["budgets"] = f"run {cfg.llm.run_token_budget} tokens, task {cfg.llm.task_token_budget} tokens"
    plan["gateway"] = env.gateway_placement().describe(env.root)
    lim = cfg.sandbox.limits
    plan["steps"] = [
        "take the repo lock, recover leftovers of crashed runs",
        f"worktree from {target} (outside the repo)",
        f"codex exec in the sandbox: network none, {lim.memory} memory, {lim.cpus} cpus, timeout {lim.timeout_s}s",
        "extract the change set, treating the tree as hostile",
        "policy gates (size, paths, secrets, semgrep)",
        f"pass: commit on {branch} with Task-Id/Run-Id trailers, merge into {target}",
        "block: task failed, nothing committed (exit 3)",
        "manifest, prompt, events, diff, gate report in .codex/runs/<task>/<run>/",
    ]
    plan["max_attempts"] = cfg.build.max_attempts
    plan["preflight"] = problems or "ok: the build could start now"
    return plan


def _preflight_problems(env: BuildEnv, task) -> list[str]:
    """What the real build's preflight would refuse, each as one line (for --dry-run)."""
    from runner.errors import RunnerError
    from runner.build.preflight import check_model_access, check_repo, check_services, check_target_clean

    problems: list[str] = []
    try:
        target = check_repo(env.root, env.config.build.integration_branch)
        if task is not None:
            check_target_clean(env.root, target, list(task.target_files), task_id=task.id)
    except (RunnerError, SandboxError) as exc:
        problems.append(" ".join(str(exc).split()))
    try:
        check_services(env.image, env.config.sandbox.base_image)
    except (RunnerError, SandboxError) as exc:
        problems.append(" ".join(str(exc).split()))
    try:
        check_model_access(env.config.llm, env.api_key)
    except RunnerError as exc:
        problems.append(" ".join(str(exc).split()))
    return problems

