"""The host-side handle of one gateway process: start it, hand it the key, read its usage and events."""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from sandbox.errors import GatewayError
from sandbox.gateway.config import GatewayConfig, GatewayStatus
from sandbox.gateway.handle import GatewayHandle

START_TIMEOUT_S = 20.0
STATUS_TIMEOUT_S = 5.0


class Gateway(GatewayHandle):
    """Context manager running `python -m sandbox.gateway` for one run; the key goes over a pipe, never env."""

    def __init__(self, config: GatewayConfig):
        super().__init__(config)
        self.socket_dir: Path | None = None
        self.tcp_address: str | None = None
        self._own_socket_dir = False
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Spawn the gateway process and wait until it listens."""
        if self.config.mode == "replay" and self.config.cache_dir is None:
            raise GatewayError("replay mode needs a cache directory")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.config.socket_dir is not None:
            self.socket_dir = Path(self.config.socket_dir)
            self.socket_dir.mkdir(parents=True, exist_ok=True)
        else:  # short path: AF_UNIX paths are limited to 107 bytes
            self.socket_dir = Path(tempfile.mkdtemp(prefix="cxgw-"))
            self._own_socket_dir = True
        os.chmod(self.socket_dir, 0o755)
        key = self.config.api_key.get_secret_value()
        payload = self.config.model_dump(mode="json", exclude={"api_key", "run_token", "socket_dir"})
        payload.update(api_key=key, run_token=self.run_token, socket_dir=str(self.socket_dir))
        env = {k: v for k, v in os.environ.items() if not key or key not in v}  # the key travels only by pipe
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "sandbox.gateway"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                env=env,
                close_fds=True,
            )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        try:
            self._proc.stdin.write(json.dumps(payload).encode() + b"\n")
            self._proc.stdin.flush()
        except OSError:  # it died before reading its config; the log says why
            self._proc.wait(5)
            raise GatewayError(f"the model gateway did not start: {self._log_tail()}") from None
        finally:
            del payload
        ready = self._read_ready()
        self.socket_path = Path(ready["socket_path"])
        self.tcp_address = ready.get("tcp_address")

    @property
    def pid(self) -> int | None:
        """The gateway process id while it runs."""
        return self._proc.pid if self._proc else None

    def _read_ready(self) -> dict:
        assert self._proc is not None and self._proc.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        fd = self._proc.stdout.fileno()
        while time.monotonic() < deadline:
            readable, _, _ = select.select([fd], [], [], 0.1)
            if readable:
                line = self._proc.stdout.readline()
                if line:
                    return json.loads(line)
                break
            if self._proc.poll() is not None:
                break
        raise GatewayError(f"the model gateway did not start: {self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return lines[-1] if lines else "no output"

    def close(self) -> None:
        """Stop the process (closing its stdin), keep its final status, remove the socket dir."""
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is not None:
            if proc.stdin:
                try:
                    proc.stdin.close()
                except OSError:
                    pass
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            if proc.stdout:
                proc.stdout.close()
            self._final = self._read_status()
        if self._own_socket_dir and self.socket_dir is not None:
            shutil.rmtree(self.socket_dir, ignore_errors=True)
            self._own_socket_dir = False

    def _read_status(self) -> GatewayStatus | None:
        try:
            return GatewayStatus.model_validate_json(self.status_path.read_text())
        except (OSError, ValueError):
            return None

    def status(self) -> GatewayStatus | None:
        """The gateway's live status (asked over the control pipe), or its final one after close."""
        if self._proc is None:
            return self._final or self._read_status()
        with self._lock:
            proc = self._proc
            assert proc.stdin is not None and proc.stdout is not None
            try:
                proc.stdin.write(b"status\n")
                proc.stdin.flush()
                if select.select([proc.stdout.fileno()], [], [], STATUS_TIMEOUT_S)[0]:
                    line = proc.stdout.readline()
                    if line:
                        return GatewayStatus.model_validate_json(line)
            except (OSError, ValueError):
                pass
        return self._read_status()  # the process died: its last written status
