"""The pinned upstream: one URL per allowed route, the real key added, tenacity retries before any byte moves."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from typing import Any

from sandbox.gateway.config import ALLOWED_ROUTES, GatewayConfig

# Attempts per failure kind (the seed's table): rate limit 5, API error 3, timeout 2.
ATTEMPTS = {"rate_limit": 5, "api_error": 3, "timeout": 2}
# Client headers passed upstream; everything else (auth, cookies, host, forwarding hints) is dropped.
FORWARD_HEADERS = frozenset(
    {
        "content-type",
        "accept",
        "user-agent",
        "originator",
        "session-id",
        "thread-id",
        "x-client-request-id",
        "openai-beta",
    }
)
FORWARD_PREFIXES = ("x-codex-", "x-stainless-")


class UpstreamFailure(Exception):
    """An upstream failure worth retrying (or the last one, when attempts ran out)."""

    def __init__(
        self, kind: str, message: str, *, status: int | None = None, retry_after: float | None = None
    ):
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.retry_after = retry_after


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def upstream_headers(client_headers: dict[str, str], api_key: str) -> dict[str, str]:
    """The allow-listed client headers plus the real key; identity encoding so bytes stream as they come."""
    out = {
        k: v
        for k, v in client_headers.items()
        if k.lower() in FORWARD_HEADERS or k.lower().startswith(FORWARD_PREFIXES)
    }
    out["accept-encoding"] = "identity"
    if api_key:
        out["authorization"] = f"Bearer {api_key}"
    return out


class Upstream:
    """Sends one allowed request upstream with retries; returns the open streaming response."""

    def __init__(self, cfg: GatewayConfig, on_event: Callable[[dict[str, Any]], None]):
        import httpx

        self.cfg = cfg
        self.base = cfg.upstream_base_url.rstrip("/")
        self.on_event = on_event
        timeout = httpx.Timeout(cfg.request_timeout_s, connect=cfg.connect_timeout_s)
        # trust_env=False: no proxy may capture loopback/bridge upstreams; redirects are never followed.
        self.client = httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False)

    def close(self) -> None:
        """Release pooled connections."""
        self.client.close()

    def url(self, route: str) -> str:
        """The upstream URL of an allowed route: the configured base plus a constant suffix."""
        return self.base + ALLOWED_ROUTES[route]

    def open(self, route: str, body: bytes, client_headers: dict[str, str]) -> Any:
        """The upstream response (headers read, body not yet), retrying per ATTEMPTS; raises UpstreamFailure."""
        import tenacity

        headers = upstream_headers(client_headers, self.cfg.api_key.get_secret_value())
        url = self.url(route)

        def stop(state: tenacity.RetryCallState) -> bool:
            exc = state.outcome.exception() if state.outcome else None
            return not isinstance(exc, UpstreamFailure) or state.attempt_number >= ATTEMPTS[exc.kind]

        def wait(state: tenacity.RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            backoff = self.cfg.retry_base_s * 2 ** (state.attempt_number - 1)
            if isinstance(exc, UpstreamFailure) and exc.retry_after is not None:
                backoff = exc.retry_after
            return min(backoff, self.cfg.retry_max_s)

        def before_sleep(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            assert isinstance(exc, UpstreamFailure)
            wait_s = state.next_action.sleep if state.next_action else 0.0
            self.on_event(
                {
                    "type": "retry",
                    "route": route,
                    "attempt": state.attempt_number,
                    "kind": exc.kind,
                    "status": exc.status,
                    "wait_s": round(wait_s, 3),
                    "reason": str(exc)[:300],
                }
            )

        retrying = tenacity.Retrying(
            stop=stop,
            wait=wait,
            retry=tenacity.retry_if_exception_type(UpstreamFailure),
            before_sleep=before_sleep,
            reraise=True,
        )
        return retrying(self._attempt, url, body, headers)

    def _attempt(self, url: str, body: bytes, headers: dict[str, str]) -> Any:
        import httpx

        try:
            request = self.client.build_request("POST", url, content=body, headers=headers)
            response = self.client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise UpstreamFailure("timeout", f"upstream timed out ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise UpstreamFailure(
                "api_error", f"upstream unreachable ({type(exc).__name__}: {exc})"
            ) from None
        status = response.status_code
        if status == 429 or status >= 500:
            try:
                detail = response.read()[:2000].decode(errors="replace")
            except httpx.HTTPError:
                detail = ""
            finally:
                response.close()
            kind = "rate_limit" if status == 429 else "api_error"
            raise UpstreamFailure(
                kind,
                f"upstream answered {status}: {detail}",
                status=status,
                retry_after=retry_after_seconds(response.headers.get("retry-after")),
            )
        return response
