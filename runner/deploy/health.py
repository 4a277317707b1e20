"""Wait for a deployed app to answer its health check (HTTP from the host, or a command inside it)."""

from __future__ import annotations

import time
import urllib.error
import urllib.request


def health_url(template: str | None, port: int | None) -> str | None:
    """A full URL from a path (`/health`) or a template (`http://127.0.0.1:{port}/health`)."""
    if not template or port is None:
        return None
    if template.startswith("/"):
        return f"http://127.0.0.1:{port}{template}"
    return template.replace("{port}", str(port))


def probe_http(url: str, timeout: float = 2.0) -> tuple[bool, str]:
    """One GET; (healthy, reason)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (a URL from config)
            return 200 <= resp.status < 300, f"HTTP {resp.status}"
    except urllib.error.HTTPError as exc:
        return False, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        return False, f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"


def probe_command(container, command: list[str]) -> tuple[bool, str]:
    """Run `command` in the app container; exit 0 = healthy."""
    try:
        res = container.exec_run(command, demux=False)
    except Exception as exc:  # docker APIError: the container is gone or not running
        return False, f"exec failed: {exc}"
    return res.exit_code == 0, f"exit {res.exit_code}"


def wait_healthy(
    container, *, url: str | None, command: list[str] | None, timeout_s: float, interval_s: float = 0.25
) -> tuple[bool, str]:
    """Poll until healthy, the container stops running, or the timeout; (healthy, last reason)."""
    deadline = time.monotonic() + timeout_s
    reason = "no health check configured"
    while True:
        container.reload()
        if container.status in ("exited", "dead"):
            code = container.attrs.get("State", {}).get("ExitCode")
            return False, f"container exited (code {code})"
        if container.status == "restarting":
            return False, f"container is crash-looping (restarts: {container.attrs.get('RestartCount', 0)})"
        if command:
            ok, reason = probe_command(container, command)
        elif url:
            ok, reason = probe_http(url, timeout=min(2.0, max(0.2, deadline - time.monotonic())))
        else:
            ok = container.status == "running"
            reason = container.status
        if ok:
            return True, reason
        if time.monotonic() >= deadline:
            return False, f"not healthy after {timeout_s:g}s: {reason}"
        time.sleep(interval_s)
