"""The service image the sidecar gateway runs from: built once here when missing (as `make services` does)."""

from __future__ import annotations

import subprocess

import pytest


def service_image() -> str:
    """codex-sandbox/service:latest, building it (context + `docker build`) when it is not there yet."""
    from docker.errors import ImageNotFound

    from runner.compose_build import SERVICE_DIR, build_lock, prepare_context
    from sandbox.docker_client import get_client
    from sandbox.gateway.sidecar import SERVICE_IMAGE

    client = get_client()
    try:
        client.images.get(SERVICE_IMAGE)
        return SERVICE_IMAGE
    except ImageNotFound:
        pass
    try:
        client.images.get("codex-sandbox/python:latest")
    except ImageNotFound:
        from sandbox.images import ensure_images

        ensure_images(["python"])
    with build_lock():
        prepare_context()
        proc = subprocess.run(
            ["docker", "build", "-q", "-t", SERVICE_IMAGE, str(SERVICE_DIR)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    if proc.returncode != 0:
        pytest.fail(f"building {SERVICE_IMAGE} failed: {proc.stderr[-1000:]}")
    return SERVICE_IMAGE
