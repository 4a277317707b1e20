"""Merging a task's commit into the integration branch, and finishing one whose merge was refused.

A merge the user's checkout is in the way of (uncommitted work where it writes) leaves the commit on
`codex/<task>` and the task pending with outcome MERGE_PENDING; the next build of the task merges
that commit through the same merge gate, without calling the model. A kept commit that no longer
merges (a conflict, a gate block) is left to a fresh attempt.
"""

from __future__ import annotations

from runner.build.result import BuildEnv, BuildResult
from sandbox.git.branches import task_branch

MERGE_PENDING = "merge_pending"  # committed on codex/<id>, the merge refused: the next build merges it


class TaskMerger:
    """Merges for one build: a fresh commit (`merge`, `record`) or a kept one (`kept_run`, `merge_kept`)."""

    def __init__(self, env: BuildEnv, store):
        self.env = env
        self.store = store
        self.cfg = env.config

    def merge(self, task, run_id: str, branch: str, base: str, target: str):
        """Merge `branch` into `target`, gated again (merge_gate) when the merge mixes in others' changes."""
        from runner.build.merge_gate import gate_merge
        from sandbox.git.integrate import merge_branch

        def gate(old: str, new: str) -> None:
            report = gate_merge(self.env.root, self.cfg.policies, base, old, new,
                                target_files=list(task.target_files) or None)
            if report is not None:
                self.store.audit("build.merge_gated", task_id=task.id, run_id=run_id,
                                 details={"into": target, "base": old, "decision": report.decision})

        return merge_branch(self.env.root, branch, target, message=f"Merge {branch}: {task.title}",
                            before_update=gate, identity=self.cfg.build.identity)

    def record(self, task, run_id: str, target: str, merged, *, kept: bool = False) -> None:
        """Say what the merge did (notes such as a filter not run) and audit it."""
        for note in merged.notes:
            self.env.progress(f"merge: {note}")
        self.store.audit("build.merged", task_id=task.id, run_id=run_id,
                         details={"into": target, "commit": merged.commit, "fast_forward": merged.fast_forward,
                                  **({"kept_commit": True} if kept else {})})

    def kept_run(self, task):
        """The last build run of `task` if it committed, could not merge, and its commit is still the branch tip."""
        from sandbox.git.plumbing import git_trusted

        runs = [r for r in self.store.list_runs(task_id=task.id, kind="build") if r.status != "running"]
        if not runs or runs[-1].details.get("outcome") != MERGE_PENDING or not runs[-1].commit:
            return None
        tip = git_trusted(self.env.root, "rev-parse", "--verify", "--quiet", f"refs/heads/{task_branch(task.id)}",
                          check=False).stdout.decode().strip()
        return runs[-1] if tip == runs[-1].commit else None

    def merge_kept(self, task, run, target: str) -> BuildResult | None:
        """Merge the kept commit through the merge gate; None when it no longer merges (then build again)."""
        from runner.build.merge_gate import MergeBlocked
        from sandbox.errors import MergeConflict, WorktreeError
        from sandbox.git.integrate import rev_parse

        branch, sha = task_branch(task.id), str(run.commit)
        base = rev_parse(self.env.root, f"{sha}^1")
        self.env.progress(f"task {task.id}: merging its kept commit {sha[:12]} from {branch} into {target} "
                          "(no model call)")
        result = BuildResult(task_id=task.id, title=task.title, run_id=run.id, status="succeeded",
                             outcome="merged_kept_commit", attempts=task.attempts, branch=branch,
                             integration_branch=target, commit=sha, manifest_path=run.manifest_path)
        try:
            merged = self.merge(task, run.id, branch, base, target)
        except WorktreeError as exc:
            error = kept_message(exc, task.id, sha, branch)
            self.store.update_task(task.id, event="task.merge_pending", details={"run_id": run.id, "commit": sha},
                                   status="pending", last_error=error)
            return result.model_copy(update={"status": "failed", "outcome": MERGE_PENDING, "exit_code": 1,
                                             "error": error})
        except (MergeConflict, MergeBlocked) as exc:
            self.store.audit("build.kept_commit_stale", task_id=task.id, run_id=run.id,
                             details={"commit": sha, "into": target, "reason": " ".join(str(exc).split())})
            self.env.progress(f"the kept commit {sha[:12]} no longer merges into {target} ({exc}); "
                              "building the task again")
            return None
        self.record(task, run.id, target, merged, kept=True)
        self.store.update_task(task.id, event="task.completed", details={"run_id": run.id, "kept_commit": sha},
                               status="completed", commit=merged.commit, last_error=None, error_context=None)
        return result.model_copy(update={"merge_commit": merged.commit, "fast_forward": merged.fast_forward})


def kept_message(exc: BaseException, task_id: str, sha: str, branch: str) -> str:
    """Why the merge waits, and how to finish it without another model call."""
    why = " ".join(str(exc).split())
    return (f"{why} — the task's commit {sha[:12]} is kept on {branch}; once that is done, "
            f"`codex-sandbox build task {task_id}` (or `build next`) merges it without calling the model again")
