"""The provider contract (deploy, rollback, status) and the typed results that cross it."""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel, Field

APP_LABEL = "io.codex-sandbox.app"  # deliberately not `managed`: the reaper must never remove a deployed app
PROJECT_LABEL = "io.codex-sandbox.project"
ENV_LABEL = "io.codex-sandbox.env"
COMMIT_LABEL = "io.codex-sandbox.commit"


class DeployResult(BaseModel):
    """What one deploy or rollback did."""

    env: str
    provider: str
    status: Literal["deployed", "rolled_back", "failed"]
    commit: str | None = None
    image: str | None = None
    container: str | None = None
    url: str | None = None
    previous_commit: str | None = None
    message: str = ""
    duration_s: float = 0.0
    steps: list[dict] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "deployed"


class EnvStatus(BaseModel):
    """The live state of one environment, read from the engine."""

    env: str
    container: str
    state: str  # running | exited | restarting | absent ...
    health: Literal["healthy", "unhealthy", "unknown"] = "unknown"
    commit: str | None = None
    image: str | None = None
    started_at: str | None = None
    uptime_s: float | None = None
    restarts: int = 0
    url: str | None = None
    detail: str = ""


class Provider(Protocol):
    """Where apps run: the docker and compose providers implement this."""

    name: str

    def deploy(
        self, env: str, commit: str, context_tar: bytes, *, previous: str | None = None
    ) -> DeployResult: ...

    def rollback(self, env: str) -> DeployResult: ...

    def preflight(self, env: str, commit: str) -> None:
        """Raise, changing nothing, when a deploy of `commit` to `env` could not even start."""

    def rollback_target(self, env: str) -> str | None:
        """What a rollback of `env` would bring back (None: nothing to roll back to)."""

    def status(self, env: str) -> EnvStatus: ...

    def app_container(self, env: str) -> str | None: ...

    def logs(self, env: str, *, follow: bool = False, tail: int = 200): ...
