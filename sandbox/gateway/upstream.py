"""The pinned upstream: one URL per allowed route, the real key added, tenacity retries before any byte moves."""

from __future__ import annotations

import email.utils
import http.client
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

from sandbox.gateway.config import ALLOWED_ROUTES, GatewayConfig
from sandbox.gateway.redact import Redactor
from sandbox.gateway.upstream_error import ERROR_BODY_LIMIT, UpstreamError, parse_error
from sandbox.gateway.wire import header_problem

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
CHUNK = 65536


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
    """The allow-listed client headers plus the real key; identity encoding so bytes stream as they come.

    The server refuses malformed headers first; one that got here anyway is dropped, never sent.
    """
    out = {
        k: v
        for k, v in client_headers.items()
        if (k.lower() in FORWARD_HEADERS or k.lower().startswith(FORWARD_PREFIXES))
        and header_problem(k, v) is None
    }
    out["accept-encoding"] = "identity"
    out["content-type"] = "application/json"
    if api_key:
        out["authorization"] = f"Bearer {api_key}"
    return out


class StreamBroken(Exception):
    """Reading the upstream body failed after the headers arrived."""

    def __init__(self, stalled: bool, detail: str):
        super().__init__(detail)
        self.stalled = stalled


class UpstreamResponse:
    """An upstream answer whose headers are read; the body streams through `chunks()`."""

    def __init__(self, upstream: Upstream, conn: http.client.HTTPConnection, raw: http.client.HTTPResponse):
        self._upstream = upstream
        self._conn = conn
        self._raw = raw
        self.status_code = raw.status
        self.headers = {k.lower(): v for k, v in raw.getheaders()}

    def chunks(self) -> Iterator[bytes]:
        """Body bytes as they arrive (chunked encoding and Content-Length handled by http.client)."""
        try:
            while data := self._raw.read1(CHUNK):
                yield data
        except TimeoutError as exc:
            raise StreamBroken(True, f"{type(exc).__name__}") from None
        except (OSError, http.client.HTTPException) as exc:
            raise StreamBroken(False, f"{type(exc).__name__}") from None

    def error(self, redactor: Redactor) -> UpstreamError:
        """The (error) body read up to ERROR_BODY_LIMIT and rebuilt as a small, scrubbed UpstreamError."""
        try:
            body = self._raw.read(ERROR_BODY_LIMIT + 1)
        except (OSError, http.client.HTTPException):
            body = b""
        truncated = len(body) > ERROR_BODY_LIMIT
        return parse_error(self.status_code, body[:ERROR_BODY_LIMIT], redactor, truncated=truncated)

    def close(self) -> None:
        """Return the connection to this thread's pool if the body was fully read, else drop it."""
        if self._raw.isclosed() and not self._raw.will_close:
            self._upstream._release(self._conn)
        else:
            self._conn.close()


class Upstream:
    """Sends one allowed request upstream with retries; returns the open streaming response.

    Uses http.client directly: a quarter of httpx's CPU per request, never follows redirects, never
    consults proxy settings. The socket timeout is the idle timeout: it bounds the wait for the
    headers and for every later read.
    """

    def __init__(self, cfg: GatewayConfig, on_event: Callable[[dict[str, Any]], None], redactor: Redactor):
        parts = urllib.parse.urlsplit(cfg.upstream_base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"upstream base URL must be http(s)://host[:port][/path], got {cfg.upstream_base_url!r}"
            )
        self.cfg = cfg
        self.on_event = on_event
        self.redactor = redactor
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.https else 80)
        self.base_path = parts.path.rstrip("/")
        self.base = f"{parts.scheme}://{parts.netloc}{self.base_path}"
        self._ssl = ssl.create_default_context() if self.https else None
        self._pool = threading.local()  # one idle keep-alive connection per handler thread

    def close(self) -> None:
        """Nothing pooled outlives its thread; kept for symmetry."""

    def url(self, route: str) -> str:
        """The upstream URL of an allowed route: the configured base plus a constant suffix."""
        return self.base + ALLOWED_ROUTES[route]

    def _release(self, conn: http.client.HTTPConnection) -> None:
        old = getattr(self._pool, "conn", None)
        if old is not None and old is not conn:
            old.close()
        self._pool.conn = conn

    def _connect(self) -> http.client.HTTPConnection:
        if self.https:
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                self.host, self.port, timeout=self.cfg.connect_timeout_s, context=self._ssl
            )
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.cfg.connect_timeout_s)
        conn.connect()
        assert conn.sock is not None
        conn.sock.settimeout(self.cfg.request_timeout_s)
        if not self.https:
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def open(self, route: str, body: bytes, client_headers: dict[str, str]) -> UpstreamResponse:
        """The upstream response (headers read, body not yet), retrying per ATTEMPTS; raises UpstreamFailure."""
        import tenacity

        headers = upstream_headers(client_headers, self.cfg.api_key.get_secret_value())
        path = self.base_path + ALLOWED_ROUTES[route]

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
        return retrying(self._attempt, path, body, headers)

    def _send(self, path: str, body: bytes, headers: dict[str, str]) -> UpstreamResponse:
        pooled = getattr(self._pool, "conn", None)
        self._pool.conn = None
        if pooled is not None:
            try:
                pooled.request("POST", path, body=body, headers=headers)
                return UpstreamResponse(self, pooled, pooled.getresponse())
            except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine):
                pooled.close()  # the server dropped the idle keep-alive connection: one fresh try
        conn = self._connect()
        try:
            conn.request("POST", path, body=body, headers=headers)
            return UpstreamResponse(self, conn, conn.getresponse())
        except BaseException:
            conn.close()
            raise

    def _attempt(self, path: str, body: bytes, headers: dict[str, str]) -> UpstreamResponse:
        try:
            response = self._send(path, body, headers)
        except TimeoutError:
            raise UpstreamFailure("timeout", "upstream timed out") from None
        except (OSError, http.client.HTTPException) as exc:
            raise UpstreamFailure(
                "api_error", f"upstream unreachable ({type(exc).__name__}: {self.redactor.message(str(exc))})"
            ) from None
        status = response.status_code
        if status == 429 or status >= 500:
            error = response.error(self.redactor)
            response.close()
            kind = "rate_limit" if status == 429 else "api_error"
            raise UpstreamFailure(
                kind,
                f"upstream answered {status}: {error.message}",
                status=status,
                retry_after=retry_after_seconds(response.headers.get("retry-after")),
            )
        return response
