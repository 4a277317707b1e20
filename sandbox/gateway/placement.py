"""Where one run's gateway runs, decided once from the setting and the engine's address; it builds the gateway."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sandbox.gateway.config import GatewayConfig
from sandbox.gateway.engine import PlacementSetting, engine_is_remote, network_name, resolve_placement
from sandbox.gateway.handle import GatewayHandle


class GatewayPlacement(BaseModel):
    """The gateway's placement: a host process behind a Unix socket, or a sidecar container."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    setting: PlacementSetting = Field("auto", description="socket, sidecar, or auto (sidecar for a remote engine).")
    docker_host: str | None = Field(None, description="The engine the Docker client talks to (DOCKER_HOST).")
    upstream_network: str = Field("bridge", description="Docker network the sidecar reaches the upstream on.")

    @property
    def kind(self) -> Literal["socket", "sidecar"]:
        """The placement `setting` resolves to for this engine."""
        return resolve_placement(self.setting, self.docker_host)

    def build(self, config: GatewayConfig, *, repo: Path, run_id: str, task_id: str | None = None) -> GatewayHandle:
        """The gateway of one run, not started yet: enter it with `with`."""
        if self.kind == "socket":
            from sandbox.gateway.gateway import Gateway

            return Gateway(config)
        from sandbox.gateway.sidecar import SidecarGateway

        return SidecarGateway(config, repo=repo, run_id=run_id, task_id=task_id,
                              remote=engine_is_remote(self.docker_host), upstream_network=self.upstream_network)

    def describe(self, repo: Path) -> str:
        """Where the gateway would run and how the Codex container reaches it (for --dry-run)."""
        if self.kind == "socket":
            return "host process; its Unix socket is mounted into the container (network none)"
        return f"sidecar container; the Codex container is on the internal network {network_name(repo)} only"
