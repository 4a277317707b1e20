"""An OpenAI-compatible HTTP server that answers from a script: the only fake model in the system."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

from sandbox.scripted_model.script import ChatTurn, ResponsesTurn, Script, load_script
from sandbox.scripted_model.sse import chat_chunks, chat_completion, responses_events

ENDPOINTS = {"/v1/responses": "responses", "/v1/chat/completions": "chat"}


@dataclass
class ScriptedRequest:
    """One request the server received, as it arrived."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    endpoint: str | None = None
    received_at: float = field(default_factory=time.time)

    @property
    def json(self) -> Any:
        """The body parsed as JSON (None when it is not JSON)."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stalled handlers must not hold up shutdown
    owner: ScriptedModelServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # small SSE writes must leave at once
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read .requests instead
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        endpoint = ENDPOINTS.get(self.path.split("?", 1)[0]) if self.command == "POST" else None
        owner._record(
            ScriptedRequest(
                self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body, endpoint
            )
        )
        if owner.api_key is not None and self.headers.get("Authorization") != f"Bearer {owner.api_key}":
            return self._error(401, "scripted model: missing or wrong API key", "invalid_api_key")
        if endpoint is None:
            return self._error(404, f"scripted model: no route {self.command} {self.path}", "not_found")
        n, turn = owner._next_turn(endpoint)
        if turn is None:
            return self._error(
                400, f"scripted model: the script has no more {endpoint} turns", "script_exhausted"
            )
        if turn.delay_s:
            owner._stop.wait(turn.delay_s)
        if turn.body_chunks is not None:
            return self._raw(turn)
        if turn.status is not None:
            headers = {"Retry-After": turn.retry_after} if turn.retry_after is not None else {}
            return self._error(
                turn.status, turn.error or f"scripted fault: status {turn.status}", "scripted_fault", headers
            )
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return self._error(400, "scripted model: the request body is not JSON", "bad_request")
        if isinstance(turn, ResponsesTurn):
            self._responses(turn, n)
        else:
            self._chat(turn, n, request)

    def _responses(self, turn: ResponsesTurn, n: int) -> None:
        head, items, completed = responses_events(turn, n)
        self._start_stream("text/event-stream", turn)
        for event in head:
            self._chunk(event)
        for i, event in enumerate(items):
            if self._fault_point(turn, i):
                return
            self._chunk(event)
        if self._fault_point(turn, len(items)):
            return
        self._chunk(completed)
        self._chunk(b"")

    def _chat(self, turn: ChatTurn, n: int, request: dict[str, Any]) -> None:
        model = str(request.get("model") or "scripted")
        if not request.get("stream"):
            data = json.dumps(chat_completion(turn, n, model)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
        self._start_stream("text/event-stream", turn)
        chunks = chat_chunks(turn, n, model, include_usage)
        for i, chunk in enumerate(chunks[:-1]):
            if self._fault_point(turn, i):
                return
            self._chunk(chunk)
        self._chunk(chunks[-1])
        self._chunk(b"")

    def _raw(self, turn: ResponsesTurn | ChatTurn) -> None:
        self.send_response(turn.status or 200)
        for k, v in turn.headers.items():
            self.send_header(k, v)
        self.send_header("Content-Type", turn.content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i, chunk in enumerate(turn.body_chunks or []):
            if i and turn.item_delay_s:
                self.server.owner._stop.wait(turn.item_delay_s)
            if chunk:  # an empty chunk would end the body early
                self._chunk(chunk.encode())
        self._chunk(b"")

    def _fault_point(self, turn: ResponsesTurn | ChatTurn, sent: int) -> bool:
        """Pause, or inject a stall or an early close once `sent` parts went out; True when the answer ends."""
        if turn.item_delay_s:
            self.server.owner._stop.wait(turn.item_delay_s)
        if turn.stall_after is not None and sent >= turn.stall_after:
            self.server.owner._stop.wait(turn.stall_s)
            self.close_connection = True
            return True
        if turn.close_after is not None and sent >= turn.close_after:
            self._chunk(b"")  # a clean end of body, but no completion event
            self.close_connection = True
            return True
        return False

    def _start_stream(self, content_type: str, turn: ResponsesTurn | ChatTurn) -> None:
        self.send_response(200)
        if turn.close_after is not None or turn.stall_after is not None:
            self.send_header("Connection", "close")  # the fault ends this connection
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _error(self, status: int, message: str, code: str, headers: dict[str, str] | None = None) -> None:
        data = json.dumps({"error": {"message": message, "type": "scripted_error", "code": code}}).encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class ScriptedModelServer:
    """Context manager serving a Script on host:port (0 = a free port); `.requests` holds what arrived."""

    def __init__(
        self,
        script: dict | list | str | Path | Script,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
    ):
        self.script = load_script(script)
        self.host = host
        self.port = port
        self.api_key = api_key  # when set, requests without `Bearer <api_key>` get 401
        self.requests: list[ScriptedRequest] = []
        self._turns = {ep: self.script.expanded(ep) for ep in ("responses", "chat")}
        self._served = {"responses": 0, "chat": 0}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL, ending in /v1."""
        return f"http://{self.host}:{self.port}/v1"

    def remaining(self, endpoint: str = "responses") -> int:
        """Turns not yet served for an endpoint."""
        with self._lock:
            return max(0, len(self._turns[endpoint]) - self._served[endpoint])

    def bind(self) -> ScriptedModelServer:
        """Open the listening socket (picks the port when it is 0)."""
        self._server = _Server((self.host, self.port), _Handler)
        self._server.owner = self
        self.port = self._server.server_address[1]
        return self

    def start(self) -> ScriptedModelServer:
        """Bind and serve in a background thread."""
        self.bind()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release stalled answers."""
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def serve_forever(self) -> None:
        """Serve in the calling thread (the standalone entry point); binds first if needed."""
        if self._server is None:
            self.bind()
        assert self._server is not None
        try:
            self._server.serve_forever(poll_interval=0.2)
        finally:
            self._stop.set()
            self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _record(self, request: ScriptedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _next_turn(self, endpoint: str) -> tuple[int, ResponsesTurn | ChatTurn | None]:
        with self._lock:
            turns = self._turns[endpoint]
            i = self._served[endpoint]
            if i >= len(turns) and not (self.script.loop and turns):
                return i + 1, None
            self._served[endpoint] = i + 1
            return i + 1, turns[i % len(turns)]  # type: ignore[return-value]
