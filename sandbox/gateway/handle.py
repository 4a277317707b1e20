"""What both gateway placements (host process, sidecar container) share: run token, run-dir paths, `with`."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Self

from sandbox.gateway.config import GatewayConfig, GatewayStatus
from sandbox.gateway.status_views import StatusViews

STATUS_FILE = "gateway-status.json"
LOG_FILE = "gateway.log"


class GatewayHandle(StatusViews):
    """Base of `Gateway` and `SidecarGateway`; subclasses provide `start()`, `close()` and `status()`."""

    def __init__(self, config: GatewayConfig):
        self.config = config
        token = config.run_token.get_secret_value() if config.run_token else None
        self.run_token = token or f"cxs-run-{secrets.token_urlsafe(32)}"
        self.run_dir = config.run_dir
        self.status_path = self.run_dir / STATUS_FILE
        self.log_path = self.run_dir / LOG_FILE
        self._final: GatewayStatus | None = None
        # Where Codex reaches it: a host gateway's socket (network none), or a sidecar's URL on its network.
        self.socket_path: Path | None = None
        self.sidecar_url: str | None = None
        self.network: str | None = None

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError
