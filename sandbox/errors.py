"""One exception base for the sandbox package; subclasses carry the facts."""

from __future__ import annotations


class SandboxError(Exception):
    """Base of every error raised by `sandbox`."""


class EngineUnavailable(SandboxError):
    """The Docker engine cannot be reached."""


class ImageError(SandboxError):
    """An image is missing or failed to build."""


class ContainerError(SandboxError):
    """A container could not be created or started."""


class WorktreeError(SandboxError):
    """A git worktree could not be created, reset or removed."""


class HostileTreeError(SandboxError):
    """The tree a container left behind contains something that must not be there."""

    def __init__(self, path: str, reason: str):
        self.path = path
        self.reason = reason
        super().__init__(f"refused {path!r}: {reason}")


class GatewayError(SandboxError):
    """The model gateway failed or refused (budget, upstream, auth)."""


class BudgetExceeded(GatewayError):
    """A run or task went over its token budget."""


class MergeConflict(SandboxError):
    """A merge would conflict; nothing (refs, index, working tree) was changed."""

    def __init__(self, source: str, target: str, paths: list[str]):
        self.source, self.target, self.paths = source, target, list(paths)
        shown = ", ".join(self.paths[:10]) + (" ..." if len(self.paths) > 10 else "")
        super().__init__(f"merging {source} into {target} conflicts in: {shown or '(unknown paths)'}")
