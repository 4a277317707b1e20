"""What the runner needs from the sandbox and the store: a handful of Protocols, a few methods each.

The values that cross these seams are the sandbox's own typed models (RunSpec/RunResult, Worktree,
ChangeSet, TokenUsage); the Protocols name the behaviour, so a step can be handed any implementation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol, Self, TypeVar, runtime_checkable

from runner.state.models import Run, Task
from sandbox.changeset import ChangeSet
from sandbox.docker.container import RunResult, RunSpec
from sandbox.gateway.config import TokenUsage
from sandbox.tree.worktree import Worktree

ReportT = TypeVar("ReportT", covariant=True)


@runtime_checkable
class WorktreePool(Protocol):
    """Worktrees outside the repository: one checked out per run, reset into the pool or removed on exit."""

    def checkout(
        self, run_id: str, *, branch: str | None = None, base: str = "HEAD", keep: bool = False
    ) -> AbstractContextManager[Worktree]: ...


@runtime_checkable
class ContainerRunner(Protocol):
    """One hardened container run to completion: the spec in, how it ended out."""

    def __call__(self, spec: RunSpec, *, on_output: Callable[[str], None] | None = None) -> RunResult: ...


@runtime_checkable
class ModelGateway(Protocol):
    """The containers' only door to the model, for one run: where Codex reaches it, what it counted.

    A host gateway has a `socket_path` (mounted into the container, network none); a sidecar has a
    `sidecar_url` on its internal `network`. The reads work before and after the gateway stopped."""

    run_token: str
    socket_path: Path | None
    sidecar_url: str | None
    network: str | None

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...

    def usage(self) -> TokenUsage: ...

    def events(self) -> list[dict]: ...

    def last_error(self) -> str | None: ...


@runtime_checkable
class Gate(Protocol[ReportT]):
    """The policy gates on one change set (its blobs already in the repository): the aggregated report."""

    def evaluate(self, changes: ChangeSet, *, target_files: list[str] | None = None) -> ReportT: ...


@runtime_checkable
class BuildStore(Protocol):
    """The part of the state store a build uses: tasks, runs and the audit log, each write with its event."""

    def get_task(self, task_id: str) -> Task: ...

    def find_task(self, task_id: str) -> Task | None: ...

    def update_task(self, task_id: str, *, event: str, details: dict | None = None, actor: str = "runner",
                    **fields: object) -> Task: ...

    def list_tasks(self, status: str | Iterable[str] | None = None) -> list[Task]: ...

    def start_run(self, run: Run, *, event: str = "run.started", details: dict | None = None) -> Run: ...

    def finish_run(self, run_id: str, *, event: str, details: dict | None = None, **fields: object) -> Run: ...

    def list_runs(self, task_id: str | None = None, kind: str | None = None, *,
                  status: str | None = None) -> list[Run]: ...

    def audit(self, event: str, *, task_id: str | None = None, run_id: str | None = None,
              details: dict | None = None, actor: str = "runner") -> int: ...
