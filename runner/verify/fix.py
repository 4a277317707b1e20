"""`verify fix`: the last failing report becomes a `fix` task (names + tracebacks); back to BUILDING."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from runner.errors import InvalidInput, StateError
from runner.verify.report import VerifyReport, load_last

CONTEXT_CHARS = 6000


def error_context(report: VerifyReport) -> str:
    """Failing tests with their messages and trimmed tracebacks, capped for the prompt budget."""
    parts = [
        f"`{report.command}` on {report.commit[:12]}: {report.failed} failed, {report.errors} errors "
        f"of {report.total}."
    ]
    for f in report.failures:
        parts.append(f"--- {f.outcome.upper()} {f.name}\n{f.message}\n{f.traceback}".rstrip())
    if not report.failures:
        parts.append(f"No test results; the run ended with: {report.reason}")
    text = "\n\n".join(parts)
    return text if len(text) <= CONTEXT_CHARS else text[: CONTEXT_CHARS - 20] + "\n... (trimmed)"


def _tracked(repo: Path, commit: str) -> set[str]:
    proc = subprocess.run(
        ["git", "-C", str(repo), "ls-tree", "-r", "--name-only", commit],
        capture_output=True,
        text=True,
        check=False,
    )
    return set(proc.stdout.splitlines()) if proc.returncode == 0 else set()


def _show(repo: Path, commit: str, path: str) -> str:
    proc = subprocess.run(
        ["git", "-C", str(repo), "show", f"{commit}:{path}"], capture_output=True, text=True, check=False
    )
    return proc.stdout if proc.returncode == 0 else ""


def fix_targets(repo: Path, report: VerifyReport) -> list[str]:
    """Files the fix may touch: the failing test files, local modules they import, files in the tracebacks.

    Read from git objects of the verified commit (never a tree a container wrote).
    """
    files = set(_tracked(repo, report.commit))
    targets: set[str] = set()
    for f in report.failures:
        test_file = f.name.split("::")[0]
        if test_file in files:
            targets.add(test_file)
            targets |= _local_imports(_show(repo, report.commit, test_file), files)
        for match in re.finditer(r"(?m)^\s*(?:File \")?/?(?:workspace/)?([\w./-]+\.py)[\":]", f.traceback):
            if match.group(1) in files:
                targets.add(match.group(1))
    return sorted(targets)


def _local_imports(source: str, files: set[str]) -> set[str]:
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
    out = set()
    for name in names:
        base = name.replace(".", "/")
        for prefix in ("", "src/"):
            if f"{prefix}{base}.py" in files:
                out.add(f"{prefix}{base}.py")
            elif any(p.startswith(f"{prefix}{base}/") for p in files):
                out.add(f"{prefix}{base}/")
    return out


def _origin(store) -> str | None:
    """The task whose work is being fixed: the latest completed non-fix task (followed through fix chains)."""
    done = sorted(store.list_tasks(status="completed"), key=lambda t: t.updated_at)
    for task in reversed(done):
        if task.type != "fix":
            return task.id
        if task.dependencies:
            return task.dependencies[0]
    return None


def propose_fix(repo: Path, store, config, *, report: VerifyReport | None = None):
    """Add the fix task (bounded by verify.max_fix_cycles per origin task); returns it."""
    from runner.state import lifecycle
    from runner.state.models import Task

    mode = lifecycle.require(store, "verify.fix")
    report = report or load_last(repo, store)
    if report.passed:
        raise InvalidInput(f"the last verify ({report.commit[:12]}) passed: nothing to fix")
    origin = _origin(store)
    cycles = sum(
        1 for e in store.audit_events(event="verify.fix") if (e.details or {}).get("origin") == origin
    )
    limit = config.verify.max_fix_cycles
    if cycles >= limit:
        raise StateError(
            f"fix cycles exhausted ({cycles}/{limit}) for task {origin or '(ad hoc)'}: "
            "fix it by hand, or raise verify.max_fix_cycles"
        )
    names = report.failing_names
    shown = ", ".join(n.split("::")[-1] for n in names[:3]) + (
        f" (+{len(names) - 3})" if len(names) > 3 else ""
    )
    files = fix_targets(repo, report)
    task = Task(
        type="fix",
        priority=0,
        title=f"Fix failing tests: {shown or report.reason}"[:200],
        description="Make the failing tests pass without weakening them.\n\nFailing:\n"
        + "\n".join(f"- {n}" for n in names)
        + f"\n\nTest command: {report.command}",
        dependencies=[origin] if origin else [],
        target_files=files,
        verification=report.command,
        error_context=error_context(report),
    )
    with store.transaction():
        store.add_task(task, actor="runner", details={"source": "verify", "verify_run": report.run_id})
        store.audit(
            "verify.fix",
            task_id=task.id,
            run_id=report.run_id,
            details={"origin": origin, "cycle": cycles + 1, "failing": names[:50], "commit": report.commit},
        )
        if mode == "lifecycle":
            lifecycle.transition(
                store, "BUILDING", reason=f"fix task {task.id} for {len(names)} failing tests"
            )
    return task
