"""Parsing `--since` for the audit log: an ISO date/time or an age (90s, 30m, 2h, 1d, 1w)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from runner.errors import InvalidInput

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime | None = None) -> str:
    """The cutoff as an ISO-8601 UTC string comparable with audit timestamps."""
    text = text.strip()
    now = now or datetime.now(UTC)
    match = re.fullmatch(r"(\d+)\s*([smhdw])", text)
    if match:
        return (now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})).isoformat(timespec="microseconds")
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"--since {text!r}: use an ISO date/time (2026-01-31T12:00) or an age like 30m, 2h, 1d") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="microseconds")
