"""Host side of the compose set-up: the service image's build context and which compose command to run.

`python -m runner.ops.compose_build` fills images/service/.context/ (gitignored): the pinned wheels of
images/service/wheels.txt, downloaded on the host (containers cannot reach PyPI over TLS here), and a wheel
of this project, so `docker-compose build` needs no network. `--print-compose` prints the compose command.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from runner.errors import ExternalServiceError, RunnerError
from sandbox.docker.service_image import PROJECT_DIRS, PROJECT_FILES, ROOT, source_digest

SERVICE_DIR = ROOT / "images" / "service"
CONTEXT = SERVICE_DIR / ".context"


def compose_command() -> list[str]:
    """`docker compose` (v2) when the plugin answers, else `docker-compose` (1.29 here)."""
    try:
        ok = (
            subprocess.run(
                ["docker", "compose", "version"], capture_output=True, timeout=20, check=False
            ).returncode
            == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    if ok:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise ExternalServiceError("neither `docker compose` nor `docker-compose` is installed")


def build_lock():
    """One prepare-and-build of the service image at a time on this machine (parallel test runs share it)."""
    from filelock import FileLock  # lazy: only builds need it

    return FileLock(str(Path(tempfile.gettempdir()) / f"codex-sandbox-service-build-{os.getuid()}.lock"))


def _project_source(out: Path) -> None:
    """What pip needs to install this checkout (built inside the image, offline, with Debian's setuptools)."""
    out.mkdir(parents=True)
    for name in PROJECT_FILES:
        shutil.copy2(ROOT / name, out / name)
    for name in PROJECT_DIRS:
        shutil.copytree(ROOT / name, out / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def prepare_context(progress: Callable[[str], None] | None = None) -> Path:
    """Fill images/service/.context/{wheels,project}/ and return it; swapped in whole (concurrent builds)."""
    from sandbox.docker.images import _download_wheels

    say = progress or (lambda message: None)
    say("service: pinned wheels (downloaded once into the host cache)")
    wheels = _download_wheels("service", lambda kind, event, message: say(f"{kind}: {message}"))
    tmp = Path(tempfile.mkdtemp(prefix=".context-", dir=SERVICE_DIR))
    try:
        (tmp / "wheels").mkdir()
        for wheel in wheels:
            try:
                os.link(wheel, tmp / "wheels" / wheel.name)
            except OSError:
                shutil.copy2(wheel, tmp / "wheels" / wheel.name)
        _project_source(tmp / "project")
        old = None
        if CONTEXT.exists():
            old = SERVICE_DIR / f".context-old-{os.getpid()}"
            CONTEXT.rename(old)
        tmp.rename(CONTEXT)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return CONTEXT


def main(argv: list[str] | None = None) -> int:
    """Prepare the context (default) or print the compose command."""
    from sandbox.errors import SandboxError

    args = sys.argv[1:] if argv is None else argv
    try:
        if args == ["--print-compose"]:
            print(" ".join(compose_command()))
            return 0
        if args == ["--digest"]:
            print(source_digest())
            return 0
        if args:
            print("usage: python -m runner.ops.compose_build [--print-compose | --digest]", file=sys.stderr)
            return 2
        ctx = prepare_context(lambda m: print(m, file=sys.stderr))
    except (RunnerError, SandboxError, OSError) as exc:  # one line, no traceback
        print(f"compose build: {exc}", file=sys.stderr)
        return 4
    print(ctx)
    return 0


if __name__ == "__main__":
    sys.exit(main())
