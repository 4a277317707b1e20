"""Reap what crashed runs left behind: containers found by label, worktrees via the worktree manager."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from pydantic import BaseModel, Field

from sandbox.docker import labels as lbl
from sandbox.procutil import pid_alive


class GcReport(BaseModel):
    """What one reap removed."""

    containers: list[str] = Field(default_factory=list, description="Names of removed containers.")
    worktrees: list[str] = Field(default_factory=list, description="Paths of removed worktrees.")
    networks: list[str] = Field(default_factory=list, description="Removed unused internal gateway networks.")
    volumes: list[str] = Field(default_factory=list, description="Removed volumes of dead sidecar gateways.")


def _owner_alive(labels: dict[str, str]) -> bool:
    try:
        return pid_alive(int(labels.get(lbl.PID, "0")))
    except ValueError:
        return False


def _managed(client, repo: Path | None) -> list:
    filters = [f"{lbl.MANAGED}=true"]
    if repo is not None:
        filters.append(f"{lbl.REPO_ID}={lbl.repo_id(repo)}")
    return client.containers.list(all=True, filters={"label": filters}, sparse=False)


def list_sandboxes(repo: Path | None = None) -> list[dict]:
    """Sandbox containers (of `repo`, or all), newest first, with their owner's liveness."""
    from sandbox.docker.client import get_client

    rows = []
    for c in _managed(get_client(), repo):
        labels = c.labels or {}
        rows.append(
            {
                "id": c.short_id,
                "name": c.name,
                "status": c.status,
                "run": labels.get(lbl.RUN),
                "task": labels.get(lbl.TASK),
                "kind": labels.get(lbl.KIND),
                "repo": labels.get(lbl.REPO),
                "image": (c.attrs.get("Config") or {}).get("Image"),
                "created": c.attrs.get("Created"),
                "owner_pid": labels.get(lbl.PID),
                "owner_alive": _owner_alive(labels),
            }
        )
    rows.sort(key=lambda r: r["created"] or "", reverse=True)
    return rows


def reap(repo: Path | None = None, *, include_live: bool = False) -> GcReport:
    """Remove managed containers whose owner died (all of them with include_live), then dead runs' worktrees."""
    from docker.errors import APIError, NotFound

    from sandbox.docker.client import get_client

    report = GcReport()
    live_runs: set[str] = set()
    repos: set[Path] = {Path(repo).resolve()} if repo is not None else set()
    for c in _managed(get_client(), repo):
        labels = c.labels or {}
        if labels.get(lbl.REPO):
            repos.add(Path(labels[lbl.REPO]))
        if not include_live and _owner_alive(labels):
            live_runs.add(labels.get(lbl.RUN, ""))
            continue
        try:
            c.remove(force=True)
            report.containers.append(c.name)
        except NotFound:
            report.containers.append(c.name)
        except APIError:
            live_runs.add(labels.get(lbl.RUN, ""))
    _reap_sidecar_leftovers(report, repo, include_live)
    for r in sorted(repos):
        if r.is_dir():
            report.worktrees.extend(_reap_worktrees(r, live_runs, include_live))
    return report


def _reap_sidecar_leftovers(report: GcReport, repo: Path | None, include_live: bool) -> None:
    """Sidecar gateways' per-run volumes whose owner died, then internal networks nothing uses."""
    from docker.errors import APIError, NotFound

    from sandbox.docker.client import get_client
    from sandbox.gateway.engine import reap_networks

    client = get_client()
    filters = [f"{lbl.MANAGED}=true"]
    if repo is not None:
        filters.append(f"{lbl.REPO_ID}={lbl.repo_id(repo)}")
    for vol in client.volumes.list(filters={"label": filters}):
        if not include_live and _owner_alive(vol.attrs.get("Labels") or {}):
            continue
        try:
            vol.remove(force=True)
            report.volumes.append(vol.name)
        except (NotFound, APIError):  # in use by a container not reaped yet
            continue
    report.networks.extend(reap_networks(client, repo))


def _reap_worktrees(repo: Path, live_runs: set[str], include_live: bool) -> list[str]:
    try:
        from sandbox.tree.worktree import WorktreeManager
    except ImportError:
        WorktreeManager = None
    removed: list[str] = []
    if WorktreeManager is not None:
        removed = [
            str(p) for p in WorktreeManager(repo).gc(frozenset() if include_live else frozenset(live_runs))
        ]
    # a safe, idempotent prune of worktree records whose directory is gone
    subprocess.run(
        ["git", "-C", str(repo), "worktree", "prune"],
        capture_output=True,
        env={**os.environ, "GIT_CONFIG_NOSYSTEM": "1"},
        check=False,
    )
    return removed
