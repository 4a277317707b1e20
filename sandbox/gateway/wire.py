"""Small HTTP/SSE helpers for the gateway handler: body reading, chunked writes, usage parsing."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler
from typing import Any

from sandbox.gateway.accounting import usage_numbers

HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 token
CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # every C0 control but HTAB, and DEL
MEDIA_TYPES = ("text/event-stream", "application/json")
REQUEST_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")


class BadRequest(Exception):
    """The client's request cannot be read; carries the status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def read_body(h: BaseHTTPRequestHandler, limit: int) -> bytes:
    """The request body (Content-Length or chunked), refusing anything over `limit` bytes."""
    te = (h.headers.get("Transfer-Encoding") or "").strip().lower()
    if te and te != "chunked":
        raise BadRequest(400, f"unsupported Transfer-Encoding {te!r}")
    if te == "chunked":
        body = bytearray()
        while True:
            line = h.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise BadRequest(400, "malformed chunked body") from None
            if size == 0:
                while h.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers are ignored
                return bytes(body)
            if len(body) + size > limit:
                raise BadRequest(413, f"request body over {limit} bytes")
            body += h.rfile.read(size)
            h.rfile.readline(8)
    length = h.headers.get("Content-Length")
    if length is None:
        raise BadRequest(411, "Content-Length required")
    try:
        n = int(length)
    except ValueError:
        raise BadRequest(400, "bad Content-Length") from None
    if n < 0 or n > limit:
        raise BadRequest(413, f"request body over {limit} bytes")
    return h.rfile.read(n)


def header_problem(name: str, value: str) -> str | None:
    """Why a client header must not travel on (a bad name, a control character, a folded line), or None."""
    if not HEADER_NAME.fullmatch(name):
        return f"malformed header name {name[:40]!r}"
    if "\n" in value or "\r" in value:
        return f"header {name} is folded or holds a line break (obs-fold is refused)"
    if CONTROL.search(value):
        return f"header {name} holds a control character"
    return None


def first_header_problem(headers: Iterable[tuple[str, str]]) -> str | None:
    """The first header_problem of a request's headers, or None."""
    return next((p for k, v in headers if (p := header_problem(k, v)) is not None), None)


def media_type(value: str | None) -> str:
    """The content type passed on for an upstream answer: one of two fixed strings, never upstream text."""
    main = (value or "").split(";", 1)[0].strip().lower()
    return main if main in MEDIA_TYPES else "application/json"


def request_id(value: str | None) -> str | None:
    """An upstream x-request-id passed on only if it is a short plain token."""
    return value if value and REQUEST_ID.fullmatch(value) else None


def write_chunk(h: BaseHTTPRequestHandler, data: bytes) -> None:
    """One chunk of a chunked response, sent at once (b"" ends the body)."""
    h.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
    h.wfile.flush()


def error_body(message: str, code: str, status: int) -> bytes:
    """An OpenAI-style JSON error body, shaped like the ones rebuilt from upstream errors."""
    error = {"type": "gateway_error", "code": code, "message": message, "status": status}
    return json.dumps({"error": error}).encode()


def stream_error_event(route: str, message: str, code: str) -> bytes:
    """The SSE event that tells a streaming client the gateway gave up mid-stream."""
    if route == "/v1/responses":
        data = {
            "type": "response.failed",
            "response": {
                "id": "gateway_error",
                "status": "failed",
                "error": {"code": code, "message": message},
            },
        }
        return f"event: response.failed\ndata: {json.dumps(data)}\n\n".encode()
    return f"data: {json.dumps({'error': {'message': message, 'type': 'gateway_error', 'code': code}})}\n\n".encode()


class UsageParser:
    """Finds the usage report in a streamed (SSE) or plain JSON body fed in pieces cut anywhere."""

    def __init__(self, sse: bool):
        self.sse = sse
        self.usage: tuple[int, int] | None = None
        self.finished = False  # saw response.completed, [DONE], or a whole JSON body
        self._json = bytearray()
        self._partial = b""  # an SSE line whose end has not arrived yet

    def feed(self, data: bytes) -> None:
        """Consume the next bytes of the body."""
        if not self.sse:
            self._json += data
            return
        if self._partial:
            data = self._partial + data
        cut = data.rfind(b"\n") + 1
        self._partial = data[cut:]
        for line in data[:cut].splitlines():
            self._line(line)

    def _line(self, line: bytes) -> None:
        if not line.startswith(b"data:"):
            return
        payload = line[5:].strip()
        if payload == b"[DONE]":
            self.finished = True
            return
        try:
            event: Any = json.loads(payload)
        except ValueError:
            return
        if not isinstance(event, dict):
            return
        kind = event.get("type")
        found = usage_numbers(event.get("usage")) or usage_numbers((event.get("response") or {}).get("usage"))
        if found and kind != "response.created":
            self.usage = found
        if kind == "response.completed":
            self.finished = True

    def close(self) -> None:
        """The body ended: parse the last SSE line or the plain JSON body."""
        if self.sse:
            partial, self._partial = self._partial, b""
            if partial:
                self._line(partial.rstrip(b"\r"))
            return
        try:
            data = json.loads(self._json)
        except ValueError:
            return
        self.finished = True
        if isinstance(data, dict):
            self.usage = usage_numbers(data.get("usage"))
