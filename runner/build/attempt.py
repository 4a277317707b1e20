"""One task's attempts: worktree → gateway → Codex in the sandbox → extraction → gates → commit → merge.

Every attempt is a run with its own row, its own folder `.codex/runs/<task>/<run>/` and a manifest
written in `finally`, whatever happened (the per-task error boundary).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from runner.config.load import AppConfig
from runner.policy.models import PolicyReport
from runner.seams import BuildStore, Gate, ModelGateway
from runner.state.models import Run, Task
from sandbox.changeset import ChangeSet
from sandbox.git.branches import task_branch

from runner.build.result import (
    EXIT_FOR_OUTCOME,
    RETRYABLE,
    BuildEnv,
    BuildResult,
    codex_image,
    failure_for,
    image_id,
    integration_branch,
)
from runner.build.codex_step import CodexResult
from runner.build.manifest import RunRecord, run_dir_for, sha256_text
from runner.build.merge import MERGE_PENDING, TaskMerger, kept_message

__all__ = ["BuildEnv", "BuildResult", "TaskBuilder", "integration_branch"]

# ----------------------------------------------------------------------------- one task


class TaskBuilder:
    """Runs the attempts of one task, each with its own run row, folder and manifest."""

    def __init__(self, env: BuildEnv, store: BuildStore):
        self.env = env
        self.store = store
        self.cfg = env.config
        self.image: str | None = None  # the codex image, once the preflight found it
        self.merger = TaskMerger(env, store)

    def build(self, task) -> BuildResult:
        """Attempt `task` until it succeeds, fails for a reason a retry cannot fix, or runs out of attempts.

        Before any attempt: what can be checked is checked (runner/build/preflight.py), a commit that already
        landed is recorded, and a commit kept from a merge that was refused is merged — no model call.
        A refusal raises with the task as it was and no attempt counted.
        """
        from runner.build.preflight import check_repo, check_target_clean

        target = check_repo(self.env.root, self.cfg.build.integration_branch)
        landed = self._already_landed(task, target)
        if landed is not None:
            return landed
        check_target_clean(self.env.root, target, list(task.target_files), task_id=task.id)
        kept = self.merger.kept_run(task)
        if kept is not None:
            merged = self.merger.merge_kept(task, kept, target)
            if merged is not None:
                return merged
        self.image = self.preflight()
        while True:
            result = self.attempt(task)
            if result.ok or result.outcome not in RETRYABLE or result.attempts >= self.cfg.build.max_attempts:
                return result
            self.env.progress(f"retrying {task.id} ({result.outcome}): attempt {result.attempts + 1}")
            task = self.store.get_task(task.id)

    def preflight(self, *, repo: bool = False) -> str:
        """The engine answers, the codex image is built, the model can be called (and with `repo`, the
        repository has a branch to build on); returns the image tag. Nothing is changed."""
        from runner.build.preflight import check_model_access, check_repo, check_services

        if repo:
            check_repo(self.env.root, self.cfg.build.integration_branch)
        image = check_services(self.env.image, self.cfg.sandbox.base_image)
        check_model_access(self.cfg.llm, self.env.api_key)
        return image

    def _already_landed(self, task, target: str) -> BuildResult | None:
        """A crash after the merge but before the store update left the commit in place: finish, do not redo."""
        from sandbox.git.plumbing import git_trusted

        proc = git_trusted(self.env.root, "log", "-n", "1", "--format=%H", "--fixed-strings",
                           f"--grep=Task-Id: {task.id}", f"refs/heads/{target}", "--", check=False)
        sha = proc.stdout.decode().strip()
        if proc.returncode != 0 or not sha:
            return None
        self.store.update_task(task.id, event="task.completed", details={"recovered": True, "commit": sha},
                               status="completed", commit=sha, last_error=None, error_context=None)
        self.env.progress(f"task {task.id} already landed on {target} as {sha[:12]}; marked completed")
        return BuildResult(task_id=task.id, title=task.title, status="succeeded", outcome="already_landed",
                           attempts=task.attempts, branch=task_branch(task.id), integration_branch=target,
                           commit=sha, merge_commit=sha)

    def attempt(self, task) -> BuildResult:
        """One run of `task` under a per-task error boundary; the manifest is written whatever happens."""
        from runner.state.models import Run, utcnow

        env, store, cfg = self.env, self.store, self.cfg
        target = integration_branch(env)
        image = self.image or env.image or codex_image(cfg.sandbox.base_image)
        run = Run(task_id=task.id, kind="build", pid=os.getpid(), image=image)
        attempt_no = task.attempts + 1
        rec = RunRecord(run_dir_for(env.root, task.id, run.id), task.id, run.id, task.type, attempt_no, run.started_at)
        rec.run_dir.mkdir(parents=True, exist_ok=True)
        rec.image = {"tag": image, "id": image_id(image)}
        rec.hashes["image"] = rec.image["id"]
        rec.model = {"slug": cfg.llm.model, "base_url": cfg.llm.base_url, "mode": cfg.llm.mode}
        rec.git = {"branch": task_branch(task.id), "integration_branch": target}
        store.start_run(run)
        store.update_task(
            task.id, event="task.started", details={"run_id": run.id, "attempt": attempt_no},
            status="running", attempts=attempt_no,
        )
        env.progress(f"task {task.id} [{task.type}] {task.title} — run {run.id} (attempt {attempt_no})")
        extra: dict[str, Any] = {}
        try:
            self._steps(task, run, rec, target, image, extra)
        except KeyboardInterrupt:
            rec.fail("interrupted", "interrupted", 130, status="interrupted")
            raise
        except BaseException as exc:
            rec.fail(*failure_for(exc))
            if rec.outcome == "internal_error":
                raise
        finally:
            self._finish(task, run, rec, utcnow())
        return self._result(task, rec, extra)

    def _steps(self, task, run, rec: RunRecord, target: str, image: str, extra: dict[str, Any]) -> None:
        """The steps of one attempt; `rec` and `extra` collect what the result and the manifest report."""
        from runner.build.codex_step import CodexExecutor
        from runner.build.prompt import prompt_hash, render_prompt
        from sandbox.tree.extract import extract_changes
        from sandbox.docker.labels import run_labels
        from sandbox.tree.worktree import WorktreeManager

        env, cfg = self.env, self.cfg
        limits = cfg.sandbox.limits
        manager = WorktreeManager(env.root, pool_size=cfg.sandbox.pool_size, disk_cap_mb=limits.disk_mb,
                                  disk_cap_mode=limits.disk_cap)
        started = time.monotonic()
        with manager.checkout(run.id, branch=task_branch(task.id), base=target) as wt:
            rec.timings["worktree_s"] = round(time.monotonic() - started, 3)
            rec.git["base_commit"] = wt.base_commit
            prompt = render_prompt(task, workspace=wt.path, error_context=task.error_context,
                                   related=self._related(task))
            rec.artifact("prompt.md", prompt)
            rec.hashes["prompt"] = prompt_hash(prompt)
            with self._gateway(task, run, rec) as gateway:
                executor = CodexExecutor(
                    image=image,
                    model=cfg.llm.model,
                    limits=cfg.sandbox.limits,
                    labels=run_labels(env.root, run.id, task.id, kind="codex"),
                )
                net = gateway.network or "none"
                env.progress(f"codex exec in {image} (network {net}, model {cfg.llm.model} via the gateway)")
                with rec.timed("codex_s"):
                    result = executor.run(wt.path, prompt, gateway=gateway, run_dir=rec.run_dir, progress=self._show)
                self._record_tokens(rec, gateway, result)
                self._audit_gateway(task, run, gateway)
            rec.codex = result
            extra["final_message"] = result.final_message
            self.store.audit("build.codex", task_id=task.id, run_id=run.id,
                             details={"outcome": result.outcome, "error": result.error, "usage": rec.tokens})
            if not result.ok:
                rec.fail(result.outcome, result.error or result.outcome, EXIT_FOR_OUTCOME[result.outcome])
                if result.stderr_tail:
                    rec.artifact("codex-stderr.txt", result.stderr_tail + "\n")
                return
            with rec.timed("extract_s"):
                changes = extract_changes(wt, cfg.sandbox.extract)
        rec.artifact("diff.patch", changes.patch)
        rec.hashes["diff"] = sha256_text(changes.patch)
        rec.change = changes.stats()
        if changes.empty:
            rec.fail("no_change", "Codex finished without changing any file", EXIT_FOR_OUTCOME["no_change"])
            return
        env.progress(_change_line(changes))
        with rec.timed("gates_s"):
            report = _evaluate(env.root, changes, cfg, task)
        gates_json = report.model_dump_json(indent=2) + "\n"
        rec.artifact("gates.json", gates_json)
        rec.hashes["gate_report"] = sha256_text(gates_json)
        blocking = [f for f in report.findings if f.blocking]
        rec.gates = {"decision": report.decision, "gates": report.gates, "findings": len(report.findings),
                     "blocking": len(blocking)}
        extra["findings"] = list(report.findings)
        self.store.audit("build.gates", task_id=task.id, run_id=run.id, details=rec.gates)
        if report.decision == "block":
            reasons = "; ".join(f"{f.gate}/{f.rule} {f.file}{':' + str(f.line) if f.line else ''}" for f in blocking[:5])
            rec.fail("blocked", f"blocked by the policy gates: {reasons}", 3, status="blocked")
            return
        if self._commit_and_merge(task, run, rec, changes, target, extra.get("final_message")):
            rec.outcome, rec.status = "ok", "succeeded"

    def _commit_and_merge(self, task, run, rec: RunRecord, changes, target: str, final_message: str | None) -> bool:
        """Commit on the task branch, then merge (gated again when the merge mixes in others' changes)."""
        from runner.build.merge_gate import MergeBlocked
        from sandbox.errors import WorktreeError
        from sandbox.faults import fault_point
        from sandbox.git.integrate import commit_changeset

        branch = task_branch(task.id)
        self._drop_stale_branch(task, run, branch, changes.base_commit)
        body = (final_message or "").strip()
        message = f"{task.type}: {task.title}" + (f"\n\n{body[:2000]}" if body else "")
        with rec.timed("commit_s"):
            sha = commit_changeset(self.env.root, changes, branch=branch, message=message,
                                   trailers={"Task-Id": task.id, "Run-Id": run.id}, identity=self.cfg.build.identity)
        rec.git["commit"] = sha
        self.store.audit("build.committed", task_id=task.id, run_id=run.id, details={"commit": sha, "branch": branch})
        fault_point("build.committed")
        try:
            with rec.timed("merge_s"):
                merged = self.merger.merge(task, run.id, branch, changes.base_commit, target)
            fault_point("build.merged")
        except MergeBlocked as exc:
            rec.artifact("merge-gates.json", exc.report.model_dump_json(indent=2) + "\n")
            self.store.audit("build.merge_gated", task_id=task.id, run_id=run.id,
                             details={"into": target, "base": exc.old, "decision": "block",
                                      "blocking": len(exc.report.blocking)})
            rec.fail("blocked", f"{exc}; {target} was not changed", 3, status="blocked")
            return False
        except WorktreeError as exc:  # the checkout is in the way: the commit stays, the merge waits
            rec.fail(MERGE_PENDING, kept_message(exc, task.id, sha, branch), 1)
            return False
        rec.git["merge_commit"] = merged.commit
        rec.git["fast_forward"] = merged.fast_forward
        if merged.notes:
            rec.git["merge_notes"] = merged.notes
        self.merger.record(task, run.id, target, merged)
        self.env.progress(f"committed {sha[:12]} on {branch}; merged into {target}"
                          f" ({'fast-forward' if merged.fast_forward else 'merge commit ' + merged.commit[:12]})")
        return True

    def _related(self, task) -> list[str]:
        """One line per completed dependency: what was done and where it landed."""
        lines = []
        for dep_id in task.dependencies:
            dep = self.store.find_task(dep_id)
            if dep is not None and dep.status == "completed":
                files = f" (files: {', '.join(dep.target_files[:8])})" if dep.target_files else ""
                lines.append(f"{dep.title}{files}, commit {str(dep.commit)[:12]}")
        return lines

    def _drop_stale_branch(self, task, run, branch: str, base: str) -> None:
        """An earlier attempt's unmerged commit (a conflict, a crash before the merge) must not block this one."""
        from sandbox.git.plumbing import git_trusted

        ref = f"refs/heads/{branch}"
        tip = git_trusted(self.env.root, "rev-parse", "--verify", "--quiet", ref, check=False).stdout.decode().strip()
        if not tip or tip == base:
            return
        if git_trusted(self.env.root, "merge-base", "--is-ancestor", tip, base, check=False).returncode == 0:
            return
        git_trusted(self.env.root, "update-ref", "-d", ref, tip)
        self.store.audit("build.stale_branch_dropped", task_id=task.id, run_id=run.id,
                         details={"branch": branch, "old_commit": tip})

    def _gateway(self, task: Task, run: Run, rec: RunRecord) -> ModelGateway:
        from sandbox.gateway import GatewayConfig

        llm = self.cfg.llm
        used = sum(r.tokens_in + r.tokens_out for r in self.store.list_runs(task_id=task.id))
        config = GatewayConfig(
            upstream_base_url=llm.base_url,
            api_key=self.env.api_key or "",
            run_dir=rec.run_dir,
            cache_dir=self.env.root / ".codex" / "cache",
            mode=llm.mode,
            run_token_budget=llm.run_token_budget,
            task_tokens_used=used,
            task_token_budget=llm.task_token_budget,
            request_timeout_s=llm.request_timeout_s,
            allowed_models=llm.models_allowed(),
        )
        placement = self.env.gateway_placement()
        if placement.kind == "sidecar":
            rec.model["gateway"] = "sidecar"
        return placement.build(config, repo=self.env.root, run_id=run.id, task_id=task.id)

    def _record_tokens(self, rec: RunRecord, gateway: ModelGateway, result: CodexResult) -> None:
        usage = gateway.usage()
        rec.tokens = {
            "input": int(usage.input_tokens),
            "output": int(usage.output_tokens),
            "requests": int(usage.requests),
            "codex": result.usage.model_dump(),
        }

    def _audit_gateway(self, task: Task, run: Run, gateway: ModelGateway) -> None:
        for event in gateway.events():
            name = str(event.get("event") or event.get("type") or "event")
            self.store.audit(f"gateway.{name}", task_id=task.id, run_id=run.id, details=event)

    def _show(self, event: dict) -> None:
        if event.get("type") != "item.completed":
            return
        item = event.get("item") or {}
        kind = item.get("type")
        if kind == "file_change":
            paths = ", ".join(f"{c.get('kind')} {Path(str(c.get('path'))).name}" for c in item.get("changes", []))
            self.env.progress(f"  codex: file change: {paths}")
        elif kind == "command_execution":
            self.env.progress(f"  codex: ran {str(item.get('command'))[:100]} → exit {item.get('exit_code')}")
        elif kind == "agent_message":
            self.env.progress(f"  codex: {str(item.get('text'))[:200]}")

    def _finish(self, task, run, rec: RunRecord, finished_at: str) -> None:
        """Manifest, run row, task row: written on every path."""
        manifest_path = rec.write_manifest(finished_at)
        run_status = {"succeeded": "succeeded", "blocked": "blocked", "interrupted": "interrupted"}.get(
            rec.status, "failed")
        self.store.finish_run(
            run.id, event=f"run.{run_status}",
            details={"outcome": rec.outcome, "error": rec.error, "exit_code": rec.exit_code},
            status=run_status, finished_at=finished_at,
            tokens_in=rec.tokens.get("input", 0), tokens_out=rec.tokens.get("output", 0),
            manifest_path=str(manifest_path), commit=rec.git.get("commit"), error=rec.error,
            container=rec.codex.container_name if rec.codex is not None else None,
        )
        if rec.status == "succeeded":
            self.store.update_task(task.id, event="task.completed", details={"run_id": run.id},
                                   status="completed", commit=rec.git.get("merge_commit") or rec.git.get("commit"),
                                   last_error=None, error_context=None)
            return
        if rec.outcome == MERGE_PENDING:  # committed, not merged: pending, and the next build only merges
            self.store.update_task(task.id, event="task.merge_pending",
                                   details={"run_id": run.id, "commit": rec.git.get("commit")},
                                   status="pending", last_error=rec.error, error_context=None)
            return
        if _not_started(rec):
            # The sandbox never got going (engine, image, a container the engine refused): the model was not
            # asked anything, so this is no attempt; the task waits, as a preflight refusal leaves it.
            self.store.update_task(task.id, event="task.not_started",
                                   details={"run_id": run.id, "outcome": rec.outcome, "error": rec.error},
                                   status="pending", attempts=rec.attempt - 1, last_error=rec.error)
            return
        if rec.status == "interrupted":
            self.store.update_task(task.id, event="task.interrupted", details={"run_id": run.id}, status="pending")
            return
        retry = rec.outcome in RETRYABLE and rec.attempt < self.cfg.build.max_attempts
        self.store.update_task(
            task.id, event="task.retry" if retry else "task.failed",
            details={"run_id": run.id, "outcome": rec.outcome, "error": rec.error},
            status="pending" if retry else "failed", last_error=rec.error,
            error_context=_error_context(rec),
        )

    def _result(self, task, rec: RunRecord, extra: dict[str, Any]) -> BuildResult:
        status = rec.status if rec.status in ("succeeded", "blocked", "interrupted") else "failed"
        return BuildResult(
            task_id=task.id, title=task.title, run_id=rec.run_id, status=status,
            outcome=rec.outcome or "ok", exit_code=rec.exit_code, error=rec.error,
            attempts=rec.attempt - 1 if _not_started(rec) else rec.attempt,
            branch=rec.git.get("branch", ""), integration_branch=rec.git.get("integration_branch", ""),
            commit=rec.git.get("commit"), merge_commit=rec.git.get("merge_commit"),
            fast_forward=rec.git.get("fast_forward"),
            gate_decision=(rec.gates or {}).get("decision"), findings=extra.get("findings", []),
            tokens_in=rec.tokens.get("input", 0), tokens_out=rec.tokens.get("output", 0),
            requests=rec.tokens.get("requests", 0), run_dir=str(rec.run_dir),
            manifest_path=str(rec.run_dir / "manifest.json"), final_message=extra.get("final_message"),
        )


# ----------------------------------------------------------------------------- helpers


def _evaluate(root: Path, changes: ChangeSet, cfg: AppConfig, task: Task) -> PolicyReport:
    from runner.policy.engine import PolicyGate

    gate: Gate[PolicyReport] = PolicyGate(root, cfg.policies, actor="model")
    return gate.evaluate(changes, target_files=list(task.target_files) or None)


def _not_started(rec: RunRecord) -> bool:
    """The attempt failed on the engine before the model was asked anything: it does not count."""
    return rec.outcome == "engine_error" and not rec.tokens.get("requests")


def _error_context(rec: RunRecord) -> str:
    """What the next attempt's prompt is told about this one."""
    lines = [f"Attempt {rec.attempt} ended with: {rec.outcome}", rec.error or ""]
    stderr = rec.run_dir / "codex-stderr.txt"
    if stderr.exists():
        lines.append(stderr.read_text(encoding="utf-8", errors="replace")[-4000:])
    return "\n".join(line for line in lines if line)


def _change_line(changes) -> str:
    s = changes.stats()
    return (f"change: {len(changes.files)} file(s), +{s['lines_added']} -{s['lines_removed']} "
            f"({s['files_added']} added, {s['files_modified']} modified, {s['files_deleted']} deleted)")
