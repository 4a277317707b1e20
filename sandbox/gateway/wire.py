"""Small HTTP/SSE helpers for the gateway handler: body reading, chunked writes, usage parsing."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any

from sandbox.gateway.accounting import usage_numbers


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


def write_chunk(h: BaseHTTPRequestHandler, data: bytes) -> None:
    """One chunk of a chunked response, sent at once (b"" ends the body)."""
    h.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
    h.wfile.flush()


def error_body(message: str, code: str) -> bytes:
    """An OpenAI-style JSON error body."""
    return json.dumps({"error": {"message": message, "type": "gateway_error", "code": code}}).encode()


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
    """Finds the usage report in a streamed (SSE) or plain JSON body fed in line-aligned pieces."""

    def __init__(self, sse: bool):
        self.sse = sse
        self.usage: tuple[int, int] | None = None
        self.finished = False  # saw response.completed, [DONE], or a whole JSON body
        self._json = bytearray()

    def feed(self, data: bytes) -> None:
        """Consume bytes that end on a line boundary (or the end of the body)."""
        if not self.sse:
            self._json += data
            return
        for line in data.splitlines():
            if not line.startswith(b"data:"):
                continue
            payload = line[5:].strip()
            if payload == b"[DONE]":
                self.finished = True
                continue
            try:
                event: Any = json.loads(payload)
            except ValueError:
                continue
            if not isinstance(event, dict):
                continue
            kind = event.get("type")
            found = usage_numbers(event.get("usage")) or usage_numbers(
                (event.get("response") or {}).get("usage")
            )
            if found and kind != "response.created":
                self.usage = found
            if kind == "response.completed":
                self.finished = True

    def close(self) -> None:
        """The body ended: parse a plain JSON body."""
        if self.sse:
            return
        try:
            data = json.loads(self._json)
        except ValueError:
            return
        self.finished = True
        if isinstance(data, dict):
            self.usage = usage_numbers(data.get("usage"))
