"""Which local image the container tests use (nothing can be pulled here)."""

from __future__ import annotations

import os

import pytest

CANDIDATES = ("codex-sandbox/codex:latest", "codex-sandbox/base:latest")


def probe_image() -> str:
    """The codex image if built, else the base image; in CI a missing image fails the test."""
    from docker.errors import ImageNotFound

    from sandbox.docker_client import get_client

    client = get_client()
    for tag in CANDIDATES:
        try:
            client.images.get(tag)
            return tag
        except ImageNotFound:
            continue
    message = "no sandbox image built; run `codex-sandbox images build`"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)
