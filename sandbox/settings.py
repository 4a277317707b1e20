"""Pydantic settings owned by the sandbox (runner's config embeds them)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class LimitsConfig(_Strict):
    """Resource limits of one sandbox container."""

    memory: str = Field("2g", description="Memory limit (Docker syntax: 512m, 2g).")
    cpus: float = Field(2.0, gt=0, description="CPU limit in cores.")
    pids: int = Field(512, ge=16, description="Maximum number of processes in the container.")
    timeout_s: int = Field(900, ge=1, description="Wall-clock limit of one run; then it is killed.")
    tmpfs_mb: int = Field(512, ge=16, description="Size of the tmpfs mounted at /tmp and $HOME.")
    disk_mb: int = Field(4096, ge=16, description="Cap on what a run may write into its worktree.")
    disk_cap: Literal["auto", "kernel", "poll"] = Field(
        "auto", description="How the disk cap holds: kernel (the worktree is its own size-capped filesystem, "
        "needs root and a loop device), poll (the tree is measured about once a second), auto (kernel where "
        "possible, else poll).")
    log_mb: int = Field(16, ge=1, description="Cap on each log a run keeps (output, Codex log, events); "
                        "past it the rest is dropped and the log ends with a note saying how much.")


class ExtractCaps(_Strict):
    """Caps on the tree a container leaves behind; past them the change set is refused."""

    max_files: int = Field(100_000, ge=1, description="Files in the returned tree.")
    max_bytes: int = Field(2 * 1024**3, ge=1, description="Total bytes of the returned tree.")
    max_depth: int = Field(64, ge=1, description="Directory depth of the returned tree.")
    max_file_bytes: int = Field(100 * 1024**2, ge=1, description="Size of any one file.")


class CommitIdentity(_Strict):
    """Who the product's commits are by when git has no identity configured; the user's own wins when set."""

    name: str = Field("codex-sandbox", min_length=1, description="Author and committer name.")
    email: str = Field("codex-sandbox@localhost", pattern=r"^[^<>\s]+@[^<>\s]+$",
                       description="Author and committer email.")
