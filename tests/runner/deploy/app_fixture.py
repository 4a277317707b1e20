"""A tiny real HTTP app (python3 http.server on :8000, /health) built FROM the project's python image."""

from __future__ import annotations

import urllib.request
from pathlib import Path

from runner.deploy.base import PROJECT_LABEL
from tests.conftest import git

APP = """import os, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
VERSION = "{version}"
if VERSION == "broken":
    sys.exit(1)
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("ok " + VERSION).encode()
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        print("GET", self.path, flush=True)
HTTPServer(("0.0.0.0", 8000), H).serve_forever()
"""
DOCKERFILE = 'FROM codex-sandbox/python:latest\nCOPY app.py /app/app.py\nCMD ["python3", "/app/app.py"]\n'
COMPOSE = """version: "3.7"
services:
  web:
    build: .
    ports:
      - "127.0.0.1:${APP_PORT}:8000"
"""


def commit_version(repo: Path, version: str, *, compose: bool = False) -> str:
    (repo / "app.py").write_text(APP.format(version=version))
    (repo / "Dockerfile").write_text(DOCKERFILE)
    if compose:
        (repo / "compose.yaml").write_text(COMPOSE)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"app {version}")
    return git(repo, "rev-parse", "HEAD")


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.read().decode()


def remove_project(name: str, compose_project_prefix: str | None = None) -> None:
    """Remove every container, network and image labelled with this deploy project."""
    from sandbox.docker.client import get_client

    client = get_client()
    for c in client.containers.list(all=True, filters={"label": f"{PROJECT_LABEL}={name}"}):
        c.remove(force=True)
    for n in client.networks.list():
        if n.name.startswith(name + "-") or (n.attrs.get("Labels") or {}).get(PROJECT_LABEL) == name:
            try:
                n.remove()
            except Exception:  # a network still in use by a container removed a moment ago: best effort
                pass
    for img in client.images.list(filters={"label": f"{PROJECT_LABEL}={name}"}):
        client.images.remove(img.id, force=True)


def mark_verified(store, sha: str) -> None:
    """Record a passing verify run of `sha` (with a plan, only a verified commit may be deployed)."""
    from runner.state.models import Run

    run = Run(kind="verify", commit=sha, pid=0)
    store.start_run(run)
    store.finish_run(run.id, event="verify.passed", status="succeeded")
