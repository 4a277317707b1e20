"""Keep the real key out of everything the gateway emits."""

from __future__ import annotations

REDACTED = "[REDACTED]"


class Redactor:
    """Replaces every occurrence of the secrets it was given."""

    def __init__(self, *secrets: str):
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)
        self._bsecrets = [s.encode() for s in self._secrets]
        self.max_len = max((len(b) for b in self._bsecrets), default=0)

    def text(self, value: str) -> str:
        """The string with every secret replaced."""
        for s in self._secrets:
            value = value.replace(s, REDACTED)
        return value

    def bytes(self, value: bytes) -> bytes:
        """The bytes with every secret replaced."""
        for s in self._bsecrets:
            value = value.replace(s, REDACTED.encode())
        return value
