"""Record model exchanges keyed by a hash of the normalised request, and replay them byte for byte."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

# Request fields that change on every run without changing what the model is asked.
VOLATILE_KEYS = frozenset({"prompt_cache_key", "client_metadata", "metadata", "user", "safety_identifier"})
# Volatile fragments inside prompt text and Codex tool outputs (thread ids, timings, dates):
# (literal that must occur, regex, replacement); the literal test skips most regex scans.
VOLATILE_PATTERNS = [
    (
        "-",
        re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE),
        "<uuid>",
    ),
    ("Wall time: ", re.compile(r"Wall time: [0-9.]+ seconds"), "Wall time: <t> seconds"),
    ("Chunk ID: ", re.compile(r"Chunk ID: [0-9a-zA-Z]+"), "Chunk ID: <id>"),
    ("<current_date>", re.compile(r"<current_date>[^<]*</current_date>"), "<current_date/>"),
    ("<timezone>", re.compile(r"<timezone>[^<]*</timezone>"), "<timezone/>"),
]


def _normalise(value: Any, *, in_input: bool = False) -> Any:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in VOLATILE_KEYS or (in_input and k in ("id", "encrypted_content")):
                continue
            out[k] = _normalise(v, in_input=in_input or k == "input")
        return out
    if isinstance(value, list):
        return [_normalise(v, in_input=in_input) for v in value]
    if isinstance(value, str):
        for literal, pattern, repl in VOLATILE_PATTERNS:
            if literal in value:
                value = pattern.sub(repl, value)
        return value
    return value


def request_key(route: str, body: Any) -> str:
    """The cache key of a request: sha256 over the route and the normalised JSON body."""
    canonical = json.dumps({"route": route, "body": _normalise(body)}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class ExchangeCache:
    """One JSON file per exchange in `root`, written atomically."""

    def __init__(self, root: Path):
        self.root = root

    def path(self, key: str) -> Path:
        """Where the exchange with this key lives."""
        return self.root / f"{key}.json"

    def record(
        self, key: str, *, route: str, status: int, content_type: str, body: bytes, usage: Any
    ) -> Path:
        """Store a complete exchange (the body exactly as the client received it)."""
        self.root.mkdir(parents=True, exist_ok=True)
        entry: dict[str, Any] = {"key": key, "route": route, "status": status, "content_type": content_type}
        try:
            entry["body"] = body.decode()
        except UnicodeDecodeError:
            entry["body_b64"] = base64.b64encode(body).decode()
        entry["usage"] = usage
        path = self.path(key)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(entry, indent=1))
        os.replace(tmp, path)
        return path

    def load(self, key: str) -> tuple[int, str, bytes] | None:
        """(status, content type, body) of a recorded exchange, or None."""
        try:
            entry = json.loads(self.path(key).read_text())
        except (OSError, ValueError):
            return None
        body = entry["body"].encode() if "body" in entry else base64.b64decode(entry["body_b64"])
        return int(entry["status"]), str(entry["content_type"]), body
