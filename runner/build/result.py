"""What a build is given (BuildEnv) and what it reports (BuildResult, outcomes and their exit codes)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, WithJsonSchema

from runner.config.load import AppConfig
from runner.errors import ExitCode, StateError
from runner.policy.models import Finding
from sandbox.gateway.placement import GatewayPlacement

RETRYABLE = frozenset({"timeout", "crash", "no_change"})
# How a build ended -> the README's exit code (runner/errors.py holds the table; this only picks rows).
EXIT_FOR_OUTCOME = {
    "ok": ExitCode.OK,
    "blocked": ExitCode.POLICY_VIOLATION,
    "hostile_tree": ExitCode.POLICY_VIOLATION,
    "model_error": ExitCode.EXTERNAL_SERVICE,
    "budget_exceeded": ExitCode.EXTERNAL_SERVICE,
    "timeout": ExitCode.EXTERNAL_SERVICE,
    "crash": ExitCode.EXTERNAL_SERVICE,
    "engine_error": ExitCode.EXTERNAL_SERVICE,
    "no_change": ExitCode.FAILED,
    "merge_conflict": ExitCode.FAILED,
    "worktree_error": ExitCode.FAILED,
    "interrupted": ExitCode.INTERRUPTED,
    "internal_error": ExitCode.FAILED,
}


@dataclass
class BuildEnv:
    """What a build needs from the edge: the repo, the validated config, the model key, the engine's address
    (DOCKER_HOST), a progress sink."""

    root: Path
    config: AppConfig
    api_key: str | None = None
    docker_host: str | None = None
    progress: Callable[[str], None] = field(default=lambda message: None)
    image: str | None = None  # an explicit codex image tag (default: the built codex image)
    command: str = "build"

    def gateway_placement(self) -> GatewayPlacement:
        """Where this build's gateways run: llm.gateway resolved against the engine's address."""
        llm = self.config.llm
        return GatewayPlacement(setting=llm.gateway, docker_host=self.docker_host,
                                upstream_network=llm.gateway_upstream_network)


class BuildResult(BaseModel):
    """How building one task ended (the last attempt, with the count of attempts)."""

    task_id: str
    title: str
    run_id: str | None = None
    status: Literal["succeeded", "failed", "blocked", "interrupted"]
    outcome: str = Field(description="ok, blocked, hostile_tree, model_error, budget_exceeded, timeout, crash, ...")
    exit_code: int = 0
    error: str | None = None
    attempts: int = 0
    branch: str = ""
    integration_branch: str = ""
    commit: str | None = None
    merge_commit: str | None = None
    fast_forward: bool | None = None
    gate_decision: str | None = None
    # The documented shape stays a list of objects: the gate report (gates.json) is where findings are specified.
    findings: list[Annotated[Finding, WithJsonSchema({"additionalProperties": True, "type": "object"})]] = Field(
        default_factory=list)
    tokens_in: int = 0
    tokens_out: int = 0
    requests: int = 0
    run_dir: str | None = None
    manifest_path: str | None = None
    final_message: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"


def integration_branch(env: BuildEnv) -> str:
    """The branch task commits merge into: config, else the branch checked out now."""
    from sandbox.git.integrate import current_branch

    configured = env.config.build.integration_branch
    if configured:
        return configured
    branch = current_branch(env.root)
    if not branch:
        raise StateError("HEAD is detached: check out the integration branch or set build.integration_branch")
    return branch


def failure_for(exc: BaseException) -> tuple[str, str, int] | tuple[str, str, int, str]:
    """(outcome, error, exit code[, run status]) for an exception escaping a step; the code comes from
    the one table (runner.errors.exit_code_for), the outcome names the step's failure."""
    from runner.errors import RunnerError, exit_code_for
    from sandbox import errors as sx

    text = " ".join(str(exc).split()) or type(exc).__name__
    code = exit_code_for(exc)
    if isinstance(exc, sx.HostileTreeError):
        return "hostile_tree", f"the returned tree was refused: {text}", code, "blocked"
    if isinstance(exc, sx.MergeConflict):
        return "merge_conflict", f"merge conflict: {text}", code
    if isinstance(exc, sx.BudgetExceeded):
        return "budget_exceeded", f"token budget exceeded: {text}", code
    if isinstance(exc, (sx.GatewayError, sx.EngineUnavailable, sx.ContainerError, sx.ImageError)):
        return "engine_error", text, code
    if isinstance(exc, sx.WorktreeError):
        return "worktree_error", text, code
    if isinstance(exc, RunnerError):
        return "runner_error", text, code
    if isinstance(exc, sx.SandboxError):
        return "sandbox_error", text, code
    return "internal_error", f"{type(exc).__name__}: {text}", code


def codex_image(base_image: str = "debian:bookworm-slim") -> str:
    from sandbox.docker.images import require_image

    return require_image("codex", base_image=base_image)


def image_id(tag: str) -> str | None:
    from sandbox.docker.client import get_client

    try:
        return get_client().images.get(tag).id
    except Exception:  # noqa: BLE001 - the image is checked for real when the container is created
        return None


def codex_image_status(base_image: str = "debian:bookworm-slim") -> str:
    """The codex image tag and whether it is built (for --dry-run; never builds)."""
    from sandbox.docker.images import image_tag

    tag = image_tag("codex", base_image=base_image)
    try:
        codex_image(base_image)
        return f"{tag} (built)"
    except Exception as exc:  # noqa: BLE001 - engine down or image missing: the dry run reports it, the real run raises
        return f"{tag} (not available: {' '.join(str(exc).split())})"
