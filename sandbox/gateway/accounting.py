"""Token counting, budgets and the audit events of one gateway, published as an atomic status file."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from sandbox.gateway.config import GatewayConfig, GatewayStatus, TokenUsage
from sandbox.gateway.redact import Redactor

MAX_EVENTS = 1000


def usage_numbers(usage: Any) -> tuple[int, int] | None:
    """(input, output) from a Responses or Chat Completions usage object."""
    if not isinstance(usage, dict):
        return None
    inp = usage.get("input_tokens", usage.get("prompt_tokens", 0))
    out = usage.get("output_tokens", usage.get("completion_tokens", 0))
    if not isinstance(inp, int) or not isinstance(out, int):
        return None
    return inp, out


class Accounting:
    """Thread-safe counters and events, answered live over the control pipe and mirrored to a status file.

    The file is rewritten (temp + rename) by a background thread at most every WRITE_INTERVAL_S and
    once more at shutdown: on this machine's filesystem a rename costs about a millisecond, too much
    to pay inside every response.
    """

    WRITE_INTERVAL_S = 0.2

    def __init__(self, cfg: GatewayConfig, status_path: Path, redactor: Redactor):
        self.cfg = cfg
        self.status_path = status_path
        self.redactor = redactor
        self._lock = threading.Lock()
        self._file_lock = threading.Lock()
        self._dirty = threading.Event()
        self._closed = False
        self.status = GatewayStatus(pid=os.getpid())
        self._writer = threading.Thread(target=self._write_loop, daemon=True)
        self._writer.start()

    def refusal(self) -> str | None:
        """Why a new request must be refused for budget reasons (marking the budget exceeded), or None."""
        with self._lock:
            reason = self._over_budget()
            if reason and not self.status.usage.budget_exceeded:
                self.status.usage.budget_exceeded = True
                self._event({"type": "budget_exceeded", "reason": reason})
                self._publish()
            return reason

    def _over_budget(self) -> str | None:
        used = self.status.usage.total
        if self.cfg.run_token_budget is not None and used >= self.cfg.run_token_budget:
            return f"run token budget exhausted ({used} of {self.cfg.run_token_budget} tokens used)"
        task_used = self.cfg.task_tokens_used + used
        if self.cfg.task_token_budget is not None and task_used >= self.cfg.task_token_budget:
            return f"task token budget exhausted ({task_used} of {self.cfg.task_token_budget} tokens used)"
        return None

    def add_usage(self, usage: tuple[int, int] | None) -> None:
        """Count one delivered response; mark the budget exceeded when it ran out."""
        with self._lock:
            u = self.status.usage
            u.requests += 1
            if usage:
                u.input_tokens += usage[0]
                u.output_tokens += usage[1]
            self.status.last_error = None
            reason = self._over_budget()
            if reason and not u.budget_exceeded:
                u.budget_exceeded = True
                self._event({"type": "budget_exceeded", "reason": reason})
            self._publish()

    def event(self, data: dict[str, Any], *, error: str | None = None) -> None:
        """Record an audit event (retry, refusal, failure); `error` marks the run's model access failed."""
        with self._lock:
            self._event(data)
            if error is not None:
                self.status.last_error = self.redactor.text(error)
            self._publish()

    def _event(self, data: dict[str, Any]) -> None:
        clean = self.redactor.scrub(data)  # every string on its own: a JSON escape cannot hide a fragment
        self.status.events.append({"ts": round(time.time(), 3), **clean})
        del self.status.events[:-MAX_EVENTS]

    def set(self, **fields: Any) -> None:
        """Update status fields (ready, addresses, stopped) and publish."""
        with self._lock:
            for k, v in fields.items():
                setattr(self.status, k, v)
            self._publish()

    def usage(self) -> TokenUsage:
        """A copy of the counters."""
        with self._lock:
            return self.status.usage.model_copy()

    def snapshot_json(self) -> str:
        """The current status as one JSON line."""
        with self._lock:
            return self.status.model_dump_json()

    def _publish(self) -> None:
        self._dirty.set()

    def _write_loop(self) -> None:
        while not self._closed:
            self._dirty.wait()
            time.sleep(self.WRITE_INTERVAL_S)
            self.flush()

    def flush(self) -> None:
        """Write the status file now."""
        with self._lock:
            self._dirty.clear()
            data = self.status.model_dump_json()
        with self._file_lock:  # outside the counters' lock: handlers never wait on the disk
            tmp = self.status_path.with_name(f".{self.status_path.name}.tmp")
            tmp.write_text(data)
            os.replace(tmp, self.status_path)

    def close(self) -> None:
        """Stop the background writer and write the final status."""
        self._closed = True
        self._dirty.set()
        self.flush()
