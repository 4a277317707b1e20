"""Which local image the container tests use (nothing can be pulled here)."""

from __future__ import annotations

from tests.ci_support import missing_prerequisite

CANDIDATES = ("codex-sandbox/codex:latest", "codex-sandbox/base:latest")


def probe_image() -> str:
    """The codex image if built, else the base image; in CI a missing image fails the test."""
    from docker.errors import ImageNotFound

    from sandbox.docker.client import get_client

    client = get_client()
    for tag in CANDIDATES:
        try:
            client.images.get(tag)
            return tag
        except ImageNotFound:
            continue
    missing_prerequisite("no sandbox image built; run `codex-sandbox images build`")
