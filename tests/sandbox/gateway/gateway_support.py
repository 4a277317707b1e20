"""Shared helpers for the gateway tests: a fake key, clients over the Unix socket, raw requests."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx

from sandbox.gateway import Gateway, GatewayConfig

# Obviously fake, but shaped like a real project key so redaction is tested on a realistic value.
FAKE_KEY = "sk-proj-FAKEfakeFAKEfake0123456789abcdefABCDEFghijklmn"


def make_gateway(tmp_path: Path, upstream: str, **overrides) -> Gateway:
    """A Gateway on `upstream` with the fake key, fast retries, and run/cache dirs under tmp_path."""
    cfg = {
        "upstream_base_url": upstream,
        "api_key": FAKE_KEY,
        "run_dir": tmp_path / "run",
        "cache_dir": tmp_path / "cache",
        "retry_base_s": 0.01,
        "request_timeout_s": 5.0,
        **overrides,
    }
    return Gateway(GatewayConfig(**cfg))


def client(gw: Gateway, token: str | None = "run", timeout: float = 10) -> httpx.Client:
    """An httpx client speaking to the gateway's Unix socket, with the run token unless told otherwise."""
    headers = {}
    if token == "run":
        headers["Authorization"] = f"Bearer {gw.run_token}"
    elif token is not None and token.startswith("raw:"):
        headers["Authorization"] = token[4:].replace("RUN", gw.run_token)
    elif token is not None:
        headers["Authorization"] = f"Bearer {token}"
    transport = httpx.HTTPTransport(uds=str(gw.socket_path))
    return httpx.Client(transport=transport, base_url="http://gateway/v1", headers=headers, timeout=timeout)


def raw_request(gw: Gateway, request: bytes, timeout: float = 5) -> bytes:
    """Send bytes as-is over the Unix socket and return everything the gateway answers."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(gw.socket_path))
        s.sendall(request)
        out = b""
        while True:
            try:
                data = s.recv(65536)
            except TimeoutError:
                break
            if not data:
                break
            out += data
            if b"\r\n\r\n" in out and b"Connection: close" in out:
                head, _, body = out.partition(b"\r\n\r\n")
                length = [ln for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-length:")]
                if length and len(body) >= int(length[0].split(b":")[1]):
                    break
        return out


def files_containing(root: Path, needle: str) -> list[Path]:
    """Every file under root whose bytes contain needle."""
    return [p for p in root.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]
