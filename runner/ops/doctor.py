"""`codex-sandbox doctor`: each check is ok or fail, and a failure names its fix."""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

MIN_FREE_GB = 5.0


class ToolInfo(BaseModel):
    """Where a program the product runs was found (beside the interpreter first, then on PATH)."""

    path: str | None = Field(description="Where it was found; null when missing.")
    version: str = Field("", description="What it reports as its version.")
    required: bool = Field(description="Whether the current policy needs it (a missing required tool fails).")
    used_by: str = Field(description="The checks or commands that run it.")


class Check(BaseModel):
    """One line of the doctor's report."""

    name: str
    ok: bool
    detail: str
    fix: str | None = None
    tool: ToolInfo | None = Field(None, description="Set for a program the product runs.")


def check_engine() -> Check:
    from sandbox.docker.client import get_client
    from sandbox.errors import EngineUnavailable

    try:
        version = get_client().version().get("Version", "?")
    except EngineUnavailable as exc:
        return Check(name="engine", ok=False, detail=str(exc), fix="start dockerd or set DOCKER_HOST")
    return Check(name="engine", ok=True, detail=f"Docker Engine {version} reachable")


def check_images(base_image: str) -> Check:
    from sandbox.docker.images import list_images

    infos = list_images(base_image=base_image)
    missing = [i.kind for i in infos if not i.built]
    if missing:
        return Check(
            name="images",
            ok=False,
            detail=f"not built: {', '.join(missing)}",
            fix="run `codex-sandbox images build`",
        )
    return Check(name="images", ok=True, detail=", ".join(i.tag for i in infos))


def check_seccomp(base_image: str) -> Check:
    """Run a tiny sandbox with our profile and read Seccomp: 2 (filter mode) from inside."""
    from sandbox.docker.container import RunSpec, run_container
    from sandbox.errors import SandboxError
    from sandbox.docker.images import latest_tag, list_images
    from sandbox.settings import LimitsConfig

    built = [i for i in list_images(base_image=base_image) if i.built]
    if not built:
        return Check(
            name="seccomp", ok=False, detail="no image to test with", fix="run `codex-sandbox images build`"
        )
    out: list[str] = []
    try:
        result = run_container(
            RunSpec(
                image=built[0].tag or latest_tag(built[0].kind),
                command=["cat", "/proc/self/status"],
                limits=LimitsConfig(timeout_s=30),
            ),
            on_output=out.append,
        )
    except SandboxError as exc:
        return Check(name="seccomp", ok=False, detail=str(exc), fix="check the engine's seccomp support")
    status = "".join(out)
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    if (
        result.ok
        and fields.get("Seccomp", "").strip() == "2"
        and fields.get("CapEff", "").strip("0 \n") == ""
    ):
        return Check(name="seccomp", ok=True, detail="profile enforced (Seccomp: 2), no capabilities")
    return Check(
        name="seccomp",
        ok=False,
        detail=f"Seccomp: {fields.get('Seccomp', '?').strip()}, CapEff: {fields.get('CapEff', '?').strip()}",
        fix="use a kernel and engine built with seccomp support",
    )


@dataclass(frozen=True)
class Tool:
    """A program the gates (or other commands) run, and how to get it."""

    name: str
    used_by: str
    install: str  # the fix when it is missing
    module: str = ""  # used in-process: look for the module, not a script


def _pip(spec: str) -> str:
    return f"install it into this interpreter: {sys.executable} -m pip install '{spec}' (or `make install`)"


TOOLS = (
    Tool("git", "every command (worktrees, change sets, merges)", "install git (apt-get install git)"),
    Tool("semgrep", "security.semgrep (the wrapper, the fallback engine)", _pip("semgrep>=1.80")),
    Tool("semgrep-core", "security.semgrep (the fast engine, shipped in the semgrep wheel)", _pip("semgrep>=1.80")),
    Tool("ruff", "quality.lint", _pip("ruff>=0.5")),
    Tool("detect-secrets", "security.secrets (in-process)", _pip("detect-secrets>=1.5"), module="detect_secrets"),
    Tool("pip-audit", "security.dependencies.online (online_audit)", _pip("pip-audit")),
    Tool("docker", "deploy with the compose provider (`docker compose`)", "install the Docker CLI"),
)


def required_tools(policy: Any) -> set[str]:
    """The tools the policy's enabled checks need (git always)."""
    sec = policy.security
    need = {"git"}
    if sec.semgrep.enabled:
        need.add("semgrep")
    if policy.quality.lint.enabled:
        need.add("ruff")
    if sec.secrets.enabled and sec.secrets.detect_secrets:
        need.add("detect-secrets")
    if sec.dependencies.enabled and sec.dependencies.online_audit:
        need.add("pip-audit")
    return need


def _locate(tool: Tool) -> tuple[str | None, str]:
    """(where, version) of one tool."""
    import importlib.util
    from importlib.metadata import PackageNotFoundError, version

    from sandbox.tools import find_module, find_tool, install_dirs, tool_version

    if tool.name == "semgrep-core":
        from runner.policy.semgrep_runner import semgrep_core_path

        path = semgrep_core_path()
        return path, (tool_version(path, "-version") if path else "")
    if tool.module:  # imported in-process: the module of this interpreter, its package's version
        spec = importlib.util.find_spec(tool.module) if find_module(tool.name, tool.module) else None
        if spec is None or not spec.origin:
            return None, ""
        try:
            return str(Path(spec.origin).parent), f"{tool.name} {version(tool.name)}"
        except PackageNotFoundError:
            return str(Path(spec.origin).parent), ""
    path = find_tool(tool.name)
    if path is None:
        return None, ""
    if Path(path).parent in install_dirs():  # `semgrep --version` takes seconds; its package says the same
        try:
            return path, f"{tool.name} {version(tool.name)}"
        except PackageNotFoundError:
            pass
    return path, tool_version(path)


def check_tool(tool: Tool, required: bool) -> Check:
    """Found (where, which version) or missing; a missing required tool fails with its fix."""
    from sandbox.tools import DISABLE_ENV, is_disabled, missing_reason

    path, ver = _locate(tool)
    info = ToolInfo(path=path, version=ver, required=required, used_by=tool.used_by)
    if path is not None:
        return Check(name=tool.name, ok=True, detail=f"{ver or tool.name} at {path}", tool=info)
    why = missing_reason(tool.name, tool.module)
    if not required:
        return Check(name=tool.name, ok=True, detail=f"{why} (optional: {tool.used_by})", tool=info)
    fix = f"unset {DISABLE_ENV}" if is_disabled(tool.name) else tool.install
    return Check(name=tool.name, ok=False, detail=f"{why} (needed by {tool.used_by})", fix=fix, tool=info)


def check_tools(policy: Any = None) -> list[Check]:
    """Every program the gates use, with its version and where it was found."""
    from runner.config.policy import load_policy_config

    need = required_tools(policy if policy is not None else load_policy_config(None))
    return [check_tool(t, t.name in need) for t in TOOLS]


def check_disk(path: Path) -> Check:
    free_gb = shutil.disk_usage(path).free / 1024**3
    if free_gb < MIN_FREE_GB:
        return Check(
            name="disk",
            ok=False,
            detail=f"{free_gb:.1f} GiB free at {path}",
            fix="free space or run `docker system prune`",
        )
    return Check(name="disk", ok=True, detail=f"{free_gb:.1f} GiB free at {path}")


def check_disk_cap(mode: str = "auto") -> Check:
    """How the sandbox's disk cap will hold: by the kernel (a capped filesystem per tree) or by polling."""
    from sandbox.tree.capfs import unavailable_reason

    why = unavailable_reason()
    if why is None and mode != "poll":
        return Check(name="disk cap", ok=True, detail="kernel-enforced (each worktree is its own capped ext4 image)")
    if mode == "kernel":
        return Check(name="disk cap", ok=False, detail=f"sandbox.limits.disk_cap is kernel, but: {why}",
                     fix="run as root with loop devices, or set sandbox.limits.disk_cap to auto")
    detail = "polled about once a second" + (f" ({why})" if why else " (sandbox.limits.disk_cap: poll)")
    return Check(name="disk cap", ok=True, detail=detail)


def run_checks(root: Path, base_image: str, policy: Any = None, disk_cap: str = "auto") -> list[Check]:
    """All checks; engine-dependent ones are reported failed (not skipped) when the engine is down.

    `policy` (a PolicyConfig; default: the built-in one) decides which tools are required."""
    engine = check_engine()
    checks = [engine]
    if engine.ok:
        checks += [check_images(base_image), check_seccomp(base_image)]
    else:
        checks += [
            Check(name="images", ok=False, detail="engine unreachable", fix=engine.fix),
            Check(name="seccomp", ok=False, detail="engine unreachable", fix=engine.fix),
        ]
    checks += [*check_tools(policy), check_disk(root), check_disk_cap(disk_cap)]
    return checks
