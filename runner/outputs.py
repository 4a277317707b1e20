"""The --json outputs that commands build as plain dicts, described as pydantic models so that
runner/schemas.py can publish their JSON schemas (the lifecycle commands' outputs are in runner/state/views.py).

These models document and check; commands do not have to build them. Extra keys are allowed: a schema
states what a consumer can rely on, not everything a command may add.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Out(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)


class DryRun(Out):
    """`--dry-run` of a command that changes something: what it would do; nothing was changed."""

    dry_run: Literal[True]
    plan: dict[str, Any] = Field(..., description="What would happen, key by key.")


class BuildDryRun(Out):
    """`--dry-run` of build next|task|all, run and scaffold (runner/build/commands.py:describe_plan)."""

    dry_run: Literal[True]
    repo: str = Field(..., description="Repository root.")
    lifecycle: str = Field(..., description="Lifecycle state now.")
    task: str = Field(..., description="The task that would be built, or why none.")


class NothingToBuild(Out):
    """`build next` when no task is ready."""

    built: None = Field(..., description="Always null.")
    message: str


class BuildAll(Out):
    """`build all`: one result per task built, in order (the last one may have failed)."""

    results: list[dict[str, Any]] = Field(..., description="BuildResult objects (see build-task.json).")


class DemoOutput(Out):
    """`demo`: the sample repo, the build result, the commit and the gate report."""

    workspace: str
    model: str
    result: dict[str, Any] = Field(..., description="The BuildResult of the demo task.")
    commit_log: str | None = None
    gates: dict[str, Any] | None = None


class DemoDryRun(Out):
    """`demo --dry-run`."""

    dry_run: Literal[True]
    workspace: str
    model: str
    task: str
    steps: list[str]


class ImageRow(Out):
    """One image kind of `images list`."""

    kind: str
    tag: str
    built: bool
    image_id: str | None = None
    size: int | None = None
    created: str | None = None


class SandboxRunOutput(Out):
    """`sandbox run`: how the run ended and the change set it left (not committed)."""

    run_id: str
    image: str
    result: dict[str, Any] = Field(..., description="exit_code, timed_out, oom_killed, duration_s, ok, reason, ...")
    stats: dict[str, Any] = Field(..., description="Files added/modified/deleted, lines added/removed.")


class SandboxList(Out):
    """`sandbox ps`."""

    sandboxes: list[dict[str, Any]] = Field(..., description="One row per sandbox container.")


class Sarif(Out):
    """`policy check --format sarif --json`: the SARIF 2.1.0 log."""

    version: str
    runs: list[dict[str, Any]]


class TaskAndState(Out):
    """`verify fix`, `maintain upgrade|patch|refactor`: the task added and the lifecycle state after."""

    task: dict[str, Any] = Field(..., description="The task (see task-add.json).")
    lifecycle: str


class MaintainDryRun(Out):
    """`maintain ... --dry-run`."""

    dry_run: Literal[True]
    would_add: dict[str, Any] = Field(..., description="type and description of the task.")


class DeployBlockedOutput(Out):
    """`deploy ...` refused by the policy gate (exit 3)."""

    blocked: Literal[True]
    env: str
    commit: str | None = None
    report: dict[str, Any] = Field(..., description="The policy report (see policy-check.json).")


class RollbackDryRun(Out):
    """`deploy rollback ENV --dry-run`."""

    dry_run: Literal[True]
    rollback: str = Field(..., description="The environment.")


class ObserveIssue(Out):
    env: str
    issue: str
    commit: str | None = None
    task: str | None = Field(None, description="The patch task proposed (null when not recorded).")


class ObserveStatus(Out):
    """`observe status`."""

    environments: list[dict[str, Any]] = Field(..., description="EnvStatus per environment.")
    issues: list[ObserveIssue]


class ObserveLogs(Out):
    """`observe logs` (not with --follow)."""

    env: str
    lines: list[str]


class MetricSample(Out):
    name: str
    labels: dict[str, str]
    value: float | None = Field(..., description="null where Prometheus says NaN (no data).")


class MetricFamily(Out):
    name: str
    type: str = Field(..., description="counter, gauge or histogram.")
    help: str
    samples: list[MetricSample]


class Metrics(Out):
    """`observe metrics --json`: the same families as the Prometheus text."""

    families: list[MetricFamily]


class SecretAction(Out):
    """`secrets set|rm` (values are never printed)."""

    secret: str
    action: Literal["set", "rm"]
    dry_run: bool = False


class SecretNames(Out):
    """`secrets list`."""

    secrets: list[str]


class DoctorOutput(Out):
    """`doctor`: every check (a failed one also exits 1 with the error member)."""

    ok: bool
    checks: list[dict[str, Any]] = Field(..., description="name, ok, detail, fix, tool.")
