"""The run record of one build attempt: artifacts in `.codex/runs/<task>/<run>/` and the manifest that hashes them."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.build.codex_step import CodexResult

from runner.fsutil import atomic_write

MANIFEST_SCHEMA = 1
log = logging.getLogger(__name__)  # records carry run_dir: -v shows them, the run's runner.log keeps them


def sha256_text(text: str | bytes | None) -> str | None:
    """sha256 hex of a text, or None when there is nothing to hash."""
    if text is None:
        return None
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


def run_dir_for(root: Path, task_id: str, run_id: str) -> Path:
    """`.codex/runs/<task>/<run>/` of a repository."""
    return Path(root) / ".codex" / "runs" / task_id / run_id


@dataclass
class RunRecord:
    """Everything one attempt learned, filled step by step and written as the manifest in `finally`."""

    run_dir: Path
    task_id: str
    run_id: str
    task_type: str
    attempt: int
    started_at: str
    status: str = "running"
    outcome: str | None = None
    error: str | None = None
    exit_code: int = 0
    hashes: dict[str, str | None] = field(default_factory=dict)
    image: dict[str, str | None] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    tokens: dict[str, Any] = field(default_factory=lambda: {"input": 0, "output": 0, "requests": 0})
    timings: dict[str, float] = field(default_factory=dict)
    gates: dict[str, Any] | None = None
    change: dict[str, Any] | None = None
    codex: CodexResult | None = None
    git: dict[str, Any] = field(default_factory=dict)
    artifacts: list[str] = field(default_factory=list)
    _t0: float = field(default_factory=time.monotonic)

    @contextmanager
    def timed(self, step: str) -> Iterator[None]:
        """Record how long `step` took (even when it raises)."""
        start = time.monotonic()
        log.debug("run %s: step %s started", self.run_id, step, extra=self._where())
        ok = False
        try:
            yield
            ok = True
        finally:
            self.timings[step] = round(time.monotonic() - start, 3)
            log.info("run %s: step %s %s in %.3fs", self.run_id, step, "done" if ok else "ended by an error",
                     self.timings[step], extra=self._where())

    def _where(self) -> dict[str, Any]:
        return {"run_dir": str(self.run_dir)}

    def artifact(self, name: str, data: str | bytes) -> Path:
        """Write one artifact atomically into the run folder and list it."""
        path = self.run_dir / name
        atomic_write(path, data)
        if name not in self.artifacts:
            self.artifacts.append(name)
        log.debug("run %s: wrote %s (%d bytes)", self.run_id, name, len(data), extra=self._where())
        return path

    def fail(self, outcome: str, error: str, exit_code: int, status: str = "failed") -> None:
        self.outcome, self.error, self.exit_code, self.status = outcome, error, exit_code, status
        log.info("run %s: %s (%s, exit %d): %s", self.run_id, status, outcome, int(exit_code), error,
                 extra=self._where())

    def manifest(self, finished_at: str) -> dict[str, Any]:
        self.timings["total_s"] = round(time.monotonic() - self._t0, 3)
        for name in ("events.jsonl", "codex.log"):
            if (self.run_dir / name).exists() and name not in self.artifacts:
                self.artifacts.append(name)
        return {
            "schema": MANIFEST_SCHEMA,
            "task_id": self.task_id,
            "run_id": self.run_id,
            "task_type": self.task_type,
            "attempt": self.attempt,
            "status": self.status,
            "outcome": self.outcome,
            "error": self.error,
            "exit_code": self.exit_code,
            "started_at": self.started_at,
            "finished_at": finished_at,
            "hashes": self.hashes,
            "image": self.image,
            "model": self.model,
            "tokens": self.tokens,
            "timings": self.timings,
            "gates": self.gates,
            "change": self.change,
            "codex": self.codex.model_dump(exclude={"stderr_tail"}) if self.codex is not None else None,
            "git": self.git,
            "artifacts": sorted(self.artifacts),
        }

    def write_manifest(self, finished_at: str) -> Path:
        """Write manifest.json atomically; returns its path."""
        import json

        path = self.run_dir / "manifest.json"
        atomic_write(path, json.dumps(self.manifest(finished_at), indent=2, sort_keys=True, default=str) + "\n")
        log.info("run %s: task %s attempt %d ended %s (%s) after %.1fs; manifest written", self.run_id,
                 self.task_id, self.attempt, self.status, self.outcome or "ok", self.timings.get("total_s", 0.0),
                 extra=self._where())
        return path
