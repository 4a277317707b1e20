"""The typed change set that crosses from extraction to the gates and the commit."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class FileChange(BaseModel):
    """One changed path, described from git objects (never from the hostile tree)."""

    path: str = Field(description="Repo-relative POSIX path (new path for renames).")
    status: Literal["added", "modified", "deleted"]
    old_blob: str | None = Field(None, description="Blob id before the change (None when added).")
    new_blob: str | None = Field(None, description="Blob id after the change (None when deleted).")
    old_mode: str | None = None
    new_mode: str | None = None
    binary: bool = False
    lines_added: int = 0
    lines_removed: int = 0
    size: int = Field(0, description="Bytes of the new blob (0 when deleted).")


class ChangeSet(BaseModel):
    """What a run changed relative to its base commit, as objects in the repo's own object store."""

    base_commit: str = Field(description="Commit the worktree started from.")
    tree: str = Field(description="Tree id of the base plus the change, written to the repo's object DB.")
    files: list[FileChange] = Field(default_factory=list)
    patch: str = Field("", description="Unified diff (binary-safe summary for binary files).")

    @property
    def empty(self) -> bool:
        return not self.files

    @property
    def lines_added(self) -> int:
        return sum(f.lines_added for f in self.files)

    @property
    def lines_removed(self) -> int:
        return sum(f.lines_removed for f in self.files)

    def stats(self) -> dict[str, int]:
        by = {s: sum(1 for f in self.files if f.status == s) for s in ("added", "modified", "deleted")}
        return {
            "files_added": by["added"],
            "files_modified": by["modified"],
            "files_deleted": by["deleted"],
            "lines_added": self.lines_added,
            "lines_removed": self.lines_removed,
            "binary_files": sum(1 for f in self.files if f.binary),
        }
