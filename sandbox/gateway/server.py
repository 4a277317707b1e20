"""The gateway's HTTP front: the run token, the allow-list, budgets, replay, and unbuffered forwarding."""

from __future__ import annotations

import hmac
import json
import logging
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sandbox.gateway.accounting import Accounting
from sandbox.gateway.cache import ExchangeCache, request_key
from sandbox.gateway.config import ALLOWED_ROUTES, GatewayConfig
from sandbox.gateway.redact import Redactor
from sandbox.gateway.upstream import ATTEMPTS, StreamBroken, Upstream, UpstreamFailure, UpstreamResponse
from sandbox.gateway.wire import (
    BadRequest,
    UsageParser,
    error_body,
    first_header_problem,
    media_type,
    read_body,
    request_id,
    stream_error_event,
    write_chunk,
)

log = logging.getLogger("sandbox.gateway")
FAIL_STATUS = {
    "rate_limit": (429, "rate_limited"),
    "api_error": (502, "upstream_error"),
    "timeout": (504, "upstream_timeout"),
}


class GatewayCore:
    """Decides and serves each request; shared by every listener of one gateway process."""

    def __init__(self, cfg: GatewayConfig, accounting: Accounting, redactor: Redactor):
        self.cfg = cfg
        self.acct = accounting
        self.redactor = redactor
        self.token = f"Bearer {cfg.run_token.get_secret_value() if cfg.run_token else ''}".encode()
        self.cache = ExchangeCache(cfg.cache_dir) if cfg.cache_dir else None
        self.upstream = Upstream(cfg, self.acct.event, redactor) if cfg.mode == "live" else None
        self._inflight = 0
        self._idle = threading.Condition()

    def drain(self, timeout: float) -> None:
        """Wait (bounded) for requests in flight to finish, so their recordings are complete."""
        with self._idle:
            self._idle.wait_for(lambda: self._inflight == 0, timeout)

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        """Serve one request end to end."""
        t0 = time.monotonic()
        with self._idle:
            self._inflight += 1
        try:
            status = self._serve(h)
        finally:
            with self._idle:
                self._inflight -= 1
                self._idle.notify_all()
        log.info(
            "%s %s -> %s in %.1f ms",
            h.command,
            self.redactor.text(h.path[:200]),
            status,
            (time.monotonic() - t0) * 1000,
        )

    def _serve(self, h: BaseHTTPRequestHandler) -> int:
        auth = (h.headers.get("Authorization") or "").encode()
        if not self.cfg.run_token or not hmac.compare_digest(auth, self.token):
            return self._refuse(h, 401, "missing or wrong run token", "unauthorized")
        problem = first_header_problem(h.headers.items())
        if problem:
            return self._refuse(h, 400, problem, "bad_header")
        target = h.path
        if not target.startswith("/") or target.startswith("//"):
            return self._refuse(
                h, 400, "only origin-form request targets (/v1/...) are accepted", "bad_target"
            )
        if "?" in target or "#" in target:
            return self._refuse(h, 400, "query strings are not forwarded", "bad_target")
        if target not in ALLOWED_ROUTES:
            return self._refuse(h, 404, f"{target[:100]} is not on the gateway allow-list", "not_allowed")
        if h.command != "POST":
            return self._refuse(h, 405, f"{h.command} is not allowed on {target}", "method_not_allowed")
        try:
            body = read_body(h, self.cfg.max_request_bytes)
            data = json.loads(body)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")  # noqa: TRY004 - answered as a 400 below
        except BadRequest as exc:
            return self._refuse(h, exc.status, str(exc), "bad_request")
        except ValueError:
            return self._refuse(h, 400, "the request body must be a JSON object", "bad_request")
        model = data.get("model")
        allowed = self.cfg.allowed_models
        if allowed is not None and (not isinstance(model, str) or model not in allowed):
            return self._refuse(
                h,
                400,
                f"model {str(model)[:100]!r} is not allowed for this run (allowed: {', '.join(allowed)})",
                "model_not_allowed",
                close=False,
                error=True,
            )
        reason = self.acct.refusal()
        if reason:
            return self._refuse(
                h, 400, f"{reason}; no further model requests in this run", "budget_exceeded", close=False
            )
        if self.upstream is None:
            return self._replay(h, target, request_key(target, data))
        if target == "/v1/chat/completions" and data.get("stream"):
            # the budget must not depend on the client asking for usage: always have it reported
            options = data.get("stream_options") if isinstance(data.get("stream_options"), dict) else {}
            body = json.dumps({**data, "stream_options": {**options, "include_usage": True}}).encode()
        return self._forward(h, target, body, data)

    def _refuse(
        self,
        h: BaseHTTPRequestHandler,
        status: int,
        message: str,
        code: str,
        *,
        close: bool = True,
        error: bool = False,
    ) -> int:
        self.acct.event(
            {
                "type": "refused",
                "status": status,
                "code": code,
                "method": h.command,
                "target": h.path[:200],
                "reason": message,
            },
            error=f"gateway refused: {message}" if error or code == "budget_exceeded" else None,
        )
        self._send_json(h, status, error_body(f"codex-sandbox gateway: {message}", code, status), close=close)
        return status

    def _send_json(self, h: BaseHTTPRequestHandler, status: int, body: bytes, *, close: bool = False) -> None:
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        if close:  # the request body may be unread; this connection cannot carry another request
            h.send_header("Connection", "close")
            h.close_connection = True
        h.end_headers()
        h.wfile.write(body)

    def _replay(self, h: BaseHTTPRequestHandler, route: str, key: str) -> int:
        found = self.cache.load(key) if self.cache else None
        if found is None:
            return self._refuse(
                h,
                400,
                f"replay mode: no recorded response for request {key[:16]}",
                "replay_miss",
                close=False,
                error=True,
            )
        status, ctype, body = found
        ctype = media_type(ctype)
        body = self.redactor.bytes(body)  # recorded before today's redaction rules, perhaps
        parser = UsageParser(sse=ctype == "text/event-stream")
        parser.feed(body)
        parser.close()
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        write_chunk(h, body)
        if 200 <= status < 300:
            self.acct.add_usage(parser.usage)
        write_chunk(h, b"")
        return status

    def _forward(self, h: BaseHTTPRequestHandler, route: str, body: bytes, request: dict) -> int:
        assert self.upstream is not None
        try:
            resp = self.upstream.open(route, body, dict(h.headers.items()))
        except UpstreamFailure as exc:
            status, code = FAIL_STATUS[exc.kind]
            message = self.redactor.text(f"{exc} (gave up after {ATTEMPTS[exc.kind]} attempts)")
            self.acct.event(
                {
                    "type": "upstream_failed",
                    "route": route,
                    "kind": exc.kind,
                    "status": exc.status,
                    "attempts": ATTEMPTS[exc.kind],
                    "reason": message[:500],
                },
                error=f"model request failed: {message}",
            )
            self._send_json(h, status, error_body(f"codex-sandbox gateway: {message}", code, status))
            return status
        try:
            if 300 <= resp.status_code < 400:
                message = f"upstream answered a redirect ({resp.status_code}); redirects are not followed"
                self.acct.event(
                    {
                        "type": "upstream_failed",
                        "route": route,
                        "kind": "redirect",
                        "status": resp.status_code,
                    },
                    error=message,
                )
                body = error_body(f"codex-sandbox gateway: {message}", "upstream_redirect", 502)
                self._send_json(h, 502, body)
                return 502
            return self._stream(h, route, resp, request)
        finally:
            resp.close()

    def _stream(self, h: BaseHTTPRequestHandler, route: str, resp: UpstreamResponse, request: dict) -> int:
        status = resp.status_code
        if not 200 <= status < 300:
            return self._upstream_error(h, route, resp)
        ctype = media_type(resp.headers.get("content-type"))
        parser = UsageParser(sse=ctype == "text/event-stream")
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Cache-Control", "no-cache")
        rid = request_id(resp.headers.get("x-request-id"))
        if rid and self.redactor.text(rid) == rid:
            h.send_header("x-request-id", rid)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        sent = bytearray()
        redact = self.redactor.stream()
        counted = False

        def count() -> None:
            nonlocal counted
            if not counted:
                counted = True
                self.acct.add_usage(parser.usage)

        def emit(data: bytes) -> None:
            if data:
                parser.feed(data)
                if parser.finished:  # the client may stop reading at the last event: count before it is sent
                    count()
                write_chunk(h, data)
                sent.extend(data)

        try:
            for chunk in resp.chunks():
                emit(redact.feed(chunk))
            emit(redact.close())
            parser.close()
        except StreamBroken as exc:
            stalled = exc.stalled
            message = (
                f"upstream stalled mid-stream (no bytes for {self.cfg.request_timeout_s:g} s)"
                if stalled
                else f"upstream stream broke ({type(exc).__name__})"
            )
            code = "upstream_stream_timeout" if stalled else "upstream_stream_error"
            self.acct.event(
                {"type": "stream_error", "route": route, "code": code, "bytes_sent": len(sent)},
                error=f"model stream failed: {message}",
            )
            if parser.sse:
                write_chunk(h, stream_error_event(route, f"codex-sandbox gateway: {message}", code))
                write_chunk(h, b"")
            h.close_connection = True
            return 599
        except OSError:  # the client went away: read the rest anyway, so the tokens it cost are counted
            self.acct.event({"type": "client_disconnected", "route": route, "bytes_sent": len(sent)})
            h.close_connection = True
            try:
                for chunk in resp.chunks():
                    parser.feed(chunk)
            except StreamBroken:
                pass
            parser.close()
            count()
            return 499
        # counted before the body ends, so a client that saw the end also sees the usage
        count()
        write_chunk(h, b"")
        if self.cache is not None and parser.finished:
            # after the last byte left: hashing and the disk write are not on the client's clock
            key = request_key(route, request)
            self.cache.record(
                key, route=route, status=status, content_type=ctype, body=bytes(sent), usage=parser.usage
            )
        return status

    def _upstream_error(self, h: BaseHTTPRequestHandler, route: str, resp: UpstreamResponse) -> int:
        """Answer an upstream error with a small structured error built here, never the upstream's body."""
        error = resp.error(self.redactor)
        self.acct.event(
            {
                "type": "upstream_status",
                "route": route,
                "status": error.status,
                "error_type": error.type,
                "code": error.code,
                "reason": error.message,
            },
            error=f"model request failed: upstream answered {error.status}: {error.message}",
        )
        self._send_json(h, error.status, error.body())
        return error.status


class GatewayHandler(BaseHTTPRequestHandler):
    """Hands every request, whatever its method, to the GatewayCore."""

    protocol_version = "HTTP/1.1"
    timeout = 900  # seconds a client connection may sit idle or stop reading before it is dropped

    def version_string(self) -> str:
        return "codex-sandbox-gateway"

    def log_message(self, format: str, *args: Any) -> None:  # GatewayCore logs (redacted) instead
        pass

    def address_string(self) -> str:  # Unix-socket peers have no address
        return "local"

    def _dispatch(self) -> None:
        self.server.core.handle(self)  # type: ignore[attr-defined]

    do_POST = do_GET = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_CONNECT = do_TRACE = (
        _dispatch
    )


class _QuietErrors:
    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        log.warning("connection error: %s", type(sys.exc_info()[1]).__name__)


class UnixGatewayServer(_QuietErrors, socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """Threaded HTTP over a Unix socket (the default door, bind-mounted into containers)."""

    daemon_threads = True
    block_on_close = False


class TcpGatewayServer(_QuietErrors, ThreadingHTTPServer):
    """Threaded HTTP over TCP (the remote-engine sidecar door)."""

    daemon_threads = True
    block_on_close = False
