"""The service image the sidecar gateway runs from: (re)built here when missing or stale, as `make services` does."""

from __future__ import annotations

import subprocess

import pytest


def service_image() -> str:
    """codex-sandbox/service:latest built from this checkout (context + `docker build` with its source label)."""
    from docker.errors import ImageNotFound

    from runner.ops.compose_build import SERVICE_DIR, build_lock, prepare_context
    from sandbox.docker.client import get_client
    from sandbox.docker.service_image import SERVICE_IMAGE, service_image_problem, source_digest

    client = get_client()
    if service_image_problem(client) is None:
        return SERVICE_IMAGE
    try:
        client.images.get("codex-sandbox/python:latest")
    except ImageNotFound:
        from sandbox.docker.images import ensure_images

        ensure_images(["python"])
    with build_lock():
        prepare_context()
        proc = subprocess.run(
            ["docker", "build", "-q", "-t", SERVICE_IMAGE, "--build-arg", f"SOURCE_DIGEST={source_digest()}",
             str(SERVICE_DIR)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    if proc.returncode != 0:
        pytest.fail(f"building {SERVICE_IMAGE} failed: {proc.stderr[-1000:]}")
    assert service_image_problem(client) is None
    return SERVICE_IMAGE
