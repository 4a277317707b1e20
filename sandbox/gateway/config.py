"""Typed configuration and results of the model gateway."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

# What Codex and the planner call, mapped to the upstream suffix (joined to the pinned base URL only).
ALLOWED_ROUTES: dict[str, str] = {"/v1/responses": "/responses", "/v1/chat/completions": "/chat/completions"}


class GatewayConfig(BaseModel):
    """One gateway: the pinned upstream, the key it alone holds, where it listens and what it may spend."""

    model_config = ConfigDict(extra="forbid")

    upstream_base_url: str = Field(
        "https://api.openai.com/v1", description="OpenAI-compatible base URL; the only place requests go."
    )
    api_key: SecretStr = Field(
        SecretStr(""), description="The real API key (empty: no Authorization upstream)."
    )
    run_dir: Path = Field(description="Per-run folder for the status file and the gateway log.")
    cache_dir: Path | None = Field(None, description="Where exchanges are recorded and replayed from.")
    mode: Literal["live", "replay"] = Field(
        "live", description="live: forward and record; replay: cache only."
    )
    run_token_budget: int | None = Field(None, ge=1, description="Tokens this run may spend.")
    task_tokens_used: int = Field(0, ge=0, description="Tokens the task already spent in earlier runs.")
    task_token_budget: int | None = Field(None, ge=1, description="Tokens the task may spend over all runs.")
    request_timeout_s: float = Field(
        300.0, gt=0, description="Longest wait for upstream response headers and between streamed bytes."
    )
    connect_timeout_s: float = Field(10.0, gt=0, description="Upstream connect timeout.")
    retry_base_s: float = Field(1.0, ge=0, description="First backoff delay; doubles per attempt.")
    retry_max_s: float = Field(30.0, ge=0, description="Longest single backoff delay, Retry-After included.")
    socket_dir: Path | None = Field(
        None,
        description="Directory for gateway.sock, bind-mounted into containers (default: a fresh short temp dir).",
    )
    tcp_listen: str | None = Field(
        None, description="Also listen on HOST:PORT over TCP (remote-engine sidecar mode); port 0 picks one."
    )
    run_token: SecretStr | None = Field(None, description="Token clients must present (default: generated).")
    max_request_bytes: int = Field(64 * 2**20, ge=1024, description="Largest request body accepted.")
    allowed_models: list[str] | None = Field(
        None, description="Model slugs a request may name (None: any); pins the run to the configured model."
    )

    @field_validator("upstream_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise ValueError(f"must be http(s)://host[:port][/path], got {value!r}")
        return value


class TokenUsage(BaseModel):
    """Tokens counted from upstream usage reports during one run."""

    input_tokens: int = 0
    output_tokens: int = 0
    requests: int = 0
    budget_exceeded: bool = False

    @property
    def total(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens


class GatewayStatus(BaseModel):
    """What the gateway process reports in run_dir/gateway-status.json."""

    pid: int
    ready: bool = False
    socket_path: str | None = None
    tcp_address: str | None = None
    usage: TokenUsage = Field(default_factory=TokenUsage)
    events: list[dict] = Field(default_factory=list)
    last_error: str | None = None
    stopped: bool = False
    undumpable: bool = False
