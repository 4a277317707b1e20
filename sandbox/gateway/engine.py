"""Where the gateway runs: on the host (Unix socket) or, for a remote engine, as a sidecar container.

Also the per-repo `--internal` Docker network a sidecar and its Codex containers share.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from sandbox.docker import labels as lbl
from sandbox.errors import GatewayError

PlacementSetting = Literal["auto", "socket", "sidecar"]
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0", ""})
NETWORK_KIND = "gateway-net"
HOST_ALIAS = "host.docker.internal"


def engine_is_remote(docker_host: str | None) -> bool:
    """True when DOCKER_HOST names another machine (tcp:// or ssh:// to a non-local host)."""
    if not docker_host:
        return False
    parts = urlsplit(docker_host)
    if parts.scheme not in ("tcp", "ssh", "http", "https"):
        return False  # unix://, npipe://, fd://: this machine
    return (parts.hostname or "").lower() not in LOCAL_HOSTS


def resolve_placement(setting: PlacementSetting, docker_host: str | None) -> Literal["socket", "sidecar"]:
    """`auto` → sidecar for a remote engine (a host socket cannot be mounted there), else the socket."""
    if setting == "auto":
        return "sidecar" if engine_is_remote(docker_host) else "socket"
    return setting


def sidecar_upstream(base_url: str, *, remote: bool) -> tuple[str, dict[str, str]]:
    """(URL the sidecar uses, extra_hosts): on a local engine a loopback upstream means the host."""
    parts = urlsplit(base_url)
    if remote or (parts.hostname or "").lower() not in LOCAL_HOSTS:
        return base_url, {}
    netloc = HOST_ALIAS + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc)), {HOST_ALIAS: "host-gateway"}


def network_name(repo: Path) -> str:
    """The repo's internal network: `codex-sandbox-gw-<repo id>`."""
    return f"codex-sandbox-gw-{lbl.repo_id(repo)}"


def ensure_internal_network(client, repo: Path) -> str:
    """Create the repo's `--internal` network if missing (idempotent, race-safe); return its name."""
    from docker.errors import APIError, NotFound

    name = network_name(repo)
    for _ in range(3):
        try:
            net = client.networks.get(name)
        except NotFound:
            net = None
        if net is not None:
            attrs = net.attrs or {}
            if not attrs.get("Internal") or (attrs.get("Labels") or {}).get(lbl.MANAGED) != "true":
                # a look-alike with a route out would hand the sandbox the network
                raise GatewayError(
                    f"Docker network {name} exists but is not our --internal network; remove it"
                )
            return name
        labels = {
            lbl.MANAGED: "true",
            lbl.REPO: str(Path(repo).resolve()),
            lbl.REPO_ID: lbl.repo_id(repo),
            lbl.KIND: NETWORK_KIND,
        }
        try:
            client.networks.create(name, driver="bridge", internal=True, labels=labels, check_duplicate=True)
            return name
        except APIError as exc:
            if exc.status_code != 409:  # 409: another process created it first
                raise
    return name


def reap_networks(client, repo: Path | None = None) -> list[str]:
    """Remove our internal networks that no container uses any more; return their names."""
    from docker.errors import APIError, NotFound

    filters = [f"{lbl.MANAGED}=true", f"{lbl.KIND}={NETWORK_KIND}"]
    if repo is not None:
        filters.append(f"{lbl.REPO_ID}={lbl.repo_id(repo)}")
    removed = []
    for net in client.networks.list(filters={"label": filters}):
        try:
            net.reload()
            if net.attrs.get("Containers"):
                continue
            net.remove()
            removed.append(net.name)
        except NotFound:
            continue
        except APIError:  # in use (a run started meanwhile): keep it
            continue
    return removed
