"""`codex-sandbox doctor`: each check is ok or fail, and a failure names its fix."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from pydantic import BaseModel

MIN_FREE_GB = 5.0


class Check(BaseModel):
    """One line of the doctor's report."""

    name: str
    ok: bool
    detail: str
    fix: str | None = None


def check_engine() -> Check:
    from sandbox.docker_client import get_client
    from sandbox.errors import EngineUnavailable

    try:
        version = get_client().version().get("Version", "?")
    except EngineUnavailable as exc:
        return Check(name="engine", ok=False, detail=str(exc), fix="start dockerd or set DOCKER_HOST")
    return Check(name="engine", ok=True, detail=f"Docker Engine {version} reachable")


def check_images(base_image: str) -> Check:
    from sandbox.images import list_images

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
    from sandbox.container import RunSpec, run_container
    from sandbox.errors import SandboxError
    from sandbox.images import latest_tag, list_images
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


def check_git() -> Check:
    git = shutil.which("git")
    if git is None:
        return Check(name="git", ok=False, detail="git not found", fix="install git (apt-get install git)")
    version = subprocess.run([git, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    return Check(name="git", ok=True, detail=version)


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


def run_checks(root: Path, base_image: str) -> list[Check]:
    """All checks; engine-dependent ones are reported failed (not skipped) when the engine is down."""
    engine = check_engine()
    checks = [engine]
    if engine.ok:
        checks += [check_images(base_image), check_seccomp(base_image)]
    else:
        checks += [
            Check(name="images", ok=False, detail="engine unreachable", fix=engine.fix),
            Check(name="seccomp", ok=False, detail="engine unreachable", fix=engine.fix),
        ]
    checks += [check_git(), check_disk(root)]
    return checks
