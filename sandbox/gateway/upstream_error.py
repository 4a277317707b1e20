"""An upstream error answer rebuilt by the gateway: status, type, code and a scrubbed message, never the body.

Upstreams echo the key in their errors (whole, or masked as `sk-proj-****abcd`); a body passed on as
it is, or cut before it is cleaned, hands the container a piece of it. So the whole error body (up to
ERROR_BODY_LIMIT) is read, cleaned, and only then reduced to a few short fields.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from sandbox.gateway.redact import Redactor

ERROR_BODY_LIMIT = 64 * 1024  # bytes of an upstream error body read; the rest is dropped
MESSAGE_LIMIT = 500  # characters of the upstream's message kept
LABEL = re.compile(r"[A-Za-z0-9_.:-]{1,64}")  # what an error type or code may look like
TAGS = re.compile(r"<[^<>]{0,200}>")


@dataclass(frozen=True)
class UpstreamError:
    """The few facts of an upstream error that reach the client, the events and the store."""

    status: int
    type: str
    code: str | None
    message: str

    def body(self) -> bytes:
        """The OpenAI-style JSON error the client receives instead of the upstream's body."""
        error = {"type": self.type, "code": self.code, "message": self.message, "status": self.status}
        return json.dumps({"error": error}).encode()


def _label(value: Any, redactor: Redactor) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not LABEL.fullmatch(value):
        return None
    return value if redactor.message(value) == value else None


def parse_error(status: int, body: bytes, redactor: Redactor, *, truncated: bool = False) -> UpstreamError:
    """Rebuild an upstream error from its body (`truncated`: the body went on past what was read)."""
    data: Any = None
    if not truncated:
        try:
            data = json.loads(body)
        except ValueError:
            data = None
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, str):
        error = {"message": error}
    if not isinstance(error, dict):
        error = {"message": data.get("message") or data.get("detail")} if isinstance(data, dict) else {}
    message = error.get("message")
    if not isinstance(message, str):
        if data is not None:
            message = json.dumps(message) if message is not None else ""
        else:
            text = body.decode("utf-8", "replace")
            if truncated:  # the last word may be cut short: drop it rather than guess
                words = text.rsplit(None, 1)
                text = words[0] if len(words) > 1 else ""
            message = TAGS.sub(" ", text)
    clean = redactor.message(message, MESSAGE_LIMIT) or f"upstream answered {status}"
    return UpstreamError(
        status=status,
        type=_label(error.get("type"), redactor) or "upstream_error",
        code=_label(error.get("code"), redactor),
        message=clean,
    )
