"""Pydantic settings owned by the sandbox (runner's config embeds them); every value is checked on entry."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Docker's memory forms (docker-py's parse_bytes, the CLI's --memory): bytes, or a number with b, k, m, g
# (an optional trailing b: 512mb). The daemon refuses less than 6 MiB.
_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)([bkmg]?)b?$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
MIN_MEMORY = 6 * 1024**2


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


def memory_bytes(value: str) -> int:
    """Bytes of a Docker memory size (`512m`, `2g`, `1.5g`, `1073741824`); ValueError naming the forms."""
    match = _MEMORY.match(value.strip())
    size = int(float(match.group(1)) * _UNITS[match.group(2).lower()]) if match else 0
    if not match or size < MIN_MEMORY:
        raise ValueError("must be a memory size Docker accepts: bytes (1073741824) or a number with k, m or g "
                         "(512m, 2g, 1.5g), at least 6m")
    return size


class LimitsConfig(_Strict):
    """Resource limits of one sandbox container."""

    memory: str = Field("2g", description="Memory limit (Docker syntax: 512m, 2g, 1.5g, or bytes).")
    cpus: float = Field(2.0, ge=0.01, description="CPU limit in cores (0.01 or more; 1.5 is one and a half).")
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

    @field_validator("memory", mode="before")
    @classmethod
    def _bytes_as_text(cls, value: object) -> object:
        # YAML reads `memory: 1073741824` as an int; bytes are one of Docker's forms, kept as text.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("memory")
    @classmethod
    def _docker_memory(cls, value: str) -> str:
        memory_bytes(value)
        return value.strip()


class ExtractCaps(_Strict):
    """Caps on the tree a container leaves behind; past them the change set is refused."""

    max_files: int = Field(100_000, ge=1, description="Files in the returned tree.")
    max_bytes: int = Field(2 * 1024**3, ge=1, description="Total bytes of the returned tree.")
    max_depth: int = Field(64, ge=1, description="Directory depth of the returned tree.")
    max_file_bytes: int = Field(100 * 1024**2, ge=1, description="Size of any one file.")


class CommitIdentity(_Strict):
    """Who the product's commits are by when git has no identity configured; the user's own wins when set."""

    name: str = Field("codex-sandbox", min_length=1, description="Author and committer name.")
    email: str = Field("codex-sandbox@localhost", description="Author and committer email.")

    @field_validator("name")
    @classmethod
    def _git_name(cls, value: str) -> str:
        if not value.strip() or re.search(r"[<>\x00-\x1f]", value):
            raise ValueError("must be a name git accepts: not empty, no < > or control characters")
        return value

    @field_validator("email")
    @classmethod
    def _git_email(cls, value: str) -> str:
        if not re.match(r"^[^<>\s@]+@[^<>\s@]+$", value):
            raise ValueError("must be an email address git accepts: user@host, no spaces or < >")
        return value
