"""The service image (compose services, gateway sidecar): which source it was built from, and is it current."""

from __future__ import annotations

import hashlib
from pathlib import Path

from sandbox.errors import ImageError

SERVICE_IMAGE = "codex-sandbox/service:latest"
SOURCE_LABEL = "io.codex-sandbox.source"
ROOT = Path(__file__).resolve().parents[2]
PROJECT_FILES = ("pyproject.toml", "README.md")
PROJECT_DIRS = ("runner", "sandbox")
SERVICE_INPUTS = ("images/service/Dockerfile", "images/service/wheels.txt")


def source_files() -> list[Path]:
    """The files the service image is built from (what `runner.ops.compose_build` copies), sorted."""
    files = [ROOT / name for name in (*PROJECT_FILES, *SERVICE_INPUTS) if (ROOT / name).is_file()]
    for name in PROJECT_DIRS:
        files += [
            p for p in (ROOT / name).rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
        ]
    return sorted(files)


def source_digest() -> str:
    """A short hash of those files' paths and bytes: the label an up-to-date service image carries."""
    digest = hashlib.sha256()
    for path in source_files():
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def service_image_problem(client, image: str = SERVICE_IMAGE) -> str | None:
    """None when `image` exists and was built from this source; otherwise what is wrong, in a few words."""
    from docker.errors import ImageNotFound

    try:
        found = client.images.get(image)
    except ImageNotFound:
        return "not built"
    built_from = (found.labels or {}).get(SOURCE_LABEL)
    if built_from != source_digest():
        return f"stale (built from source {built_from or 'unknown'}, this checkout is {source_digest()})"
    return None


def require_service_image(client, image: str = SERVICE_IMAGE) -> str:
    """The service image's tag if it is current, or ImageError naming the command that (re)builds it."""
    problem = service_image_problem(client, image)
    if problem:
        raise ImageError(f"the service image {image} is {problem}: run `make services`")
    return image
