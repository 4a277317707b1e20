"""Scanner results cached by blob id + tool/rules hash under .codex/cache/policy/ (only if .codex/ exists)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any


class ResultCache:
    """A tiny JSON-per-key cache; a missing or corrupt entry is just a miss."""

    def __init__(self, repo: Path | None, enabled: bool = True):
        codex = Path(repo) / ".codex" if repo else None
        self.dir = codex / "cache" / "policy" if enabled and codex and codex.is_dir() else None

    @staticmethod
    def key(*parts: str) -> str:
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:40]

    def get(self, key: str) -> Any | None:
        if self.dir is None:
            return None
        try:
            return json.loads((self.dir / f"{key}.json").read_text())
        except (OSError, ValueError):
            return None

    def put(self, key: str, value: Any) -> None:
        if self.dir is None:
            return
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            tmp = self.dir / f".{key}.{os.getpid()}.tmp"
            tmp.write_text(json.dumps(value))
            os.replace(tmp, self.dir / f"{key}.json")
        except OSError:
            pass  # a cache that cannot be written only costs speed
