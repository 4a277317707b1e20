"""The `deploy:` config section: provider, environments, deploy steps and the secrets each names."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from runner.config.policy import policy_problem
from runner.config.types import EnvironmentName, EnvName, HealthUrl, ImageRef, ProjectName, RepoPath, Text


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class StepConfig(_Section):
    """One deploy step (migration, smoke test...) run in an ephemeral sandbox container."""

    name: Text = Field(..., description="Step name shown in plans and logs.")
    command: Text = Field(
        ..., description="Shell command run in the step container (workdir: the commit's tree)."
    )
    phase: Literal["pre", "post"] = Field(
        "pre",
        description="pre: before the app is replaced (migrations); post: after it is healthy (smoke test).",
    )
    secrets: list[EnvName] = Field(
        default_factory=list, description="Secret names injected as env vars into this step only."
    )
    network: Literal["none", "app"] = Field(
        "none",
        description="none: no network; app: share the new app container's network (reach it on localhost).",
    )
    image: ImageRef | None = Field(None, description="Image of the step container (default: deploy.step_image).")
    timeout_s: int = Field(300, ge=1, description="Wall-clock limit of the step.")


class EnvironmentConfig(_Section):
    """One deploy target (staging, prod...)."""

    port: int | None = Field(
        None, ge=0, le=65535, description="Host port published on 127.0.0.1 (None/0: an ephemeral port)."
    )
    container_port: int = Field(
        8000, ge=1, le=65535, description="Port the app listens on inside its container."
    )
    health_url: HealthUrl | None = Field(
        "/health",
        description="HTTP health path (or full URL with {port}) polled from the host; 2xx = healthy.",
    )
    health_command: list[Text] | None = Field(
        None, description="Instead of HTTP: a command run inside the app container; exit 0 = healthy."
    )
    health_timeout_s: float = Field(30.0, gt=0, description="How long to wait for the app to become healthy.")
    requires_approval: bool | None = Field(
        None, description="Needs --approve or a terminal confirmation (default: true for prod/production)."
    )
    secrets: list[EnvName] = Field(
        default_factory=list, description="Secret names the app container itself receives."
    )
    env: dict[EnvName, str] = Field(
        default_factory=dict, description="Plain (non-secret) env vars of the app container."
    )
    steps: list[StepConfig] = Field(default_factory=list, description="Deploy steps run around the switch.")

    @field_validator("health_command")
    @classmethod
    def _a_command(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            raise ValueError("must name a command, e.g. [curl, -fsS, localhost:8000/health] (or null for HTTP)")
        return value

    def needs_approval(self, name: str) -> bool:
        if self.requires_approval is not None:
            return self.requires_approval
        return name in ("prod", "production")


def _default_envs() -> dict[str, EnvironmentConfig]:
    return {"staging": EnvironmentConfig(), "prod": EnvironmentConfig()}


class DeployConfig(_Section):
    """Deploy environments and provider."""

    provider: Literal["docker", "compose"] = Field(
        "docker", description="docker: one Dockerfile; compose: a compose file."
    )
    project: ProjectName | None = Field(
        None, description="Project name for images/containers (default: the repo directory name)."
    )
    dockerfile: RepoPath = Field("Dockerfile", description="Dockerfile path in the repo (docker provider).")
    compose_file: RepoPath = Field("compose.yaml", description="Compose file path in the repo (compose provider).")
    service: Text | None = Field(
        None, description="Compose service that is health-checked (default: the first one)."
    )
    compose_command: list[Text] | None = Field(
        None, description="Compose CLI (default: `docker-compose` if present, else `docker compose`)."
    )
    step_image: ImageRef = Field(
        "codex-sandbox/python:latest", description="Default image of deploy step containers."
    )
    build_timeout_s: int = Field(900, ge=1, description="Limit on building the app image.")
    stop_timeout_s: int = Field(
        5, ge=0, description="Grace period for stopping the old app before it is killed."
    )
    policies: dict[str, Any] = Field(
        default_factory=dict,
        description="Policy keys merged over `policies:` for the deploy gate only (size limits are lifted).",
    )
    environments: dict[EnvironmentName, EnvironmentConfig] = Field(
        default_factory=_default_envs,
        description="Environments by name (deployed in order: staging, then prod).",
    )

    @field_validator("compose_command")
    @classmethod
    def _a_command(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            raise ValueError("must name the compose CLI, e.g. [docker, compose] (or null to detect it)")
        return value

    @field_validator("policies")
    @classmethod
    def _known_policy_keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        problem = policy_problem(value, prefix="deploy.policies")
        if problem:
            raise ValueError(problem)
        return value
