"""One ad-hoc sandboxed command: worktree -> hardened container -> change set (not committed)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from sandbox.changeset import ChangeSet
from sandbox.docker.container import RunResult
from sandbox.settings import ExtractCaps, LimitsConfig

log = logging.getLogger(__name__)  # records carry run_dir: -v shows them, the run's runner.log keeps them


class SandboxRunRequest(BaseModel):
    """Everything `sandbox run` needs, already resolved from config and flags."""

    model_config = ConfigDict(extra="forbid")
    repo: Path
    command: list[str] = Field(min_length=1)
    image: str | None = Field(None, description="Image; None means the built codex image.")
    network: str = "none"
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    extract: ExtractCaps = Field(default_factory=ExtractCaps)
    pool_size: int = 2
    keep: bool = False
    base: str = "HEAD"
    run_id: str | None = None
    base_image: str = Field(
        "debian:bookworm-slim", description="Configured base (the codex image tag depends on it)."
    )


class SandboxOutcome(BaseModel):
    """How the run ended and what it changed."""

    run_id: str
    branch: str
    image: str
    result: RunResult
    changes: ChangeSet
    run_dir: Path
    patch_path: Path | None = Field(None, description="The run's patch (every run with a change keeps it).")
    kept: bool = Field(False, description="Whether the run's branch was kept (--keep).")

    def to_json(self) -> dict:
        result = self.result.model_dump(mode="json")
        result.update(ok=self.result.ok, reason=self.result.reason)
        return {
            "run_id": self.run_id,
            "branch": self.branch,
            "kept": self.kept,
            "image": self.image,
            "result": result,
            "stats": self.changes.stats(),
            "files": [f.model_dump(mode="json") for f in self.changes.files],
            "patch": self.changes.patch,
            "patch_path": str(self.patch_path) if self.patch_path else None,
        }


def sandbox_run(
    req: SandboxRunRequest,
    *,
    on_output: Callable[[str], None] | None = None,
    progress: Callable[[str], None] | None = None,
) -> SandboxOutcome:
    """Run the command over a fresh worktree and return the extracted change set."""
    from runner.fsutil import atomic_write
    from runner.ops.init_repo import ensure_excluded
    from runner.state.models import new_id
    from sandbox.docker.container import RunSpec, run_container
    from sandbox.tree.extract import extract_changes
    from sandbox.docker.labels import run_labels
    from sandbox.tree.worktree import WorktreeManager

    say = progress or (lambda _m: None)
    repo = Path(req.repo).resolve()
    run_id = req.run_id or new_id().lower()
    image = req.image or _default_image(req.base_image)
    run_dir = repo / ".codex" / "runs" / "sandbox" / run_id
    ensure_excluded(repo)
    run_dir.mkdir(parents=True, exist_ok=True)
    where = {"run_dir": str(run_dir)}
    log.info("sandbox run %s: %s in %s (network %s, memory %s, cpus %s, timeout %ss)", run_id, req.command, image,
             req.network, req.limits.memory, req.limits.cpus, req.limits.timeout_s, extra=where)
    manager = WorktreeManager(repo, pool_size=req.pool_size, disk_cap_mb=req.limits.disk_mb,
                              disk_cap_mode=req.limits.disk_cap)
    log.debug("sandbox run %s: checking out %s (pool of %d)", run_id, req.base, req.pool_size, extra=where)
    with manager.checkout(run_id, base=req.base, keep=req.keep) as wt:
        log.debug("sandbox run %s: worktree %s on %s at %s", run_id, wt.path, wt.branch, wt.base_commit, extra=where)
        say(f"sandbox {run_id}: {image} over {wt.branch} @ {wt.base_commit[:12]}")
        spec = RunSpec(
            image=image,
            command=req.command,
            workspace=wt.path,
            network=req.network,
            limits=req.limits,
            labels=run_labels(repo, run_id, kind="sandbox"),
            log_path=run_dir / "output.log",
        )
        result = run_container(spec, on_output=on_output)
        log.info("sandbox run %s: container %s ended: %s in %.2fs", run_id, result.container_name, result.reason,
                 result.duration_s, extra=where)
        if result.disk_exceeded:  # a run over its cap is never read: nothing of it reaches the object store
            changes = ChangeSet(base_commit=wt.base_commit, tree=_tree_of(repo, wt.base_commit))
            say("the run went over its disk cap: its tree was not extracted")
        else:
            changes = extract_changes(wt, req.extract)
        log.debug("sandbox run %s: extracted %s", run_id, changes.stats(), extra=where)
        branch = wt.branch
    patch_path = None
    if changes.patch or req.keep:  # the summary names the file; the patch itself is printed on request only
        patch_path = run_dir / "diff.patch"
        atomic_write(patch_path, changes.patch)
    return SandboxOutcome(
        run_id=run_id,
        branch=branch,
        image=image,
        result=result,
        changes=changes,
        run_dir=run_dir,
        patch_path=patch_path,
        kept=req.keep,
    )


def _tree_of(repo: Path, commit: str) -> str:
    from sandbox.git.integrate import rev_parse

    return rev_parse(repo, f"{commit}^{{tree}}")


def _default_image(base_image: str) -> str:
    from sandbox.docker.images import require_image

    return require_image("codex", base_image=base_image)
