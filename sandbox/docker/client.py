"""The only module that creates Docker SDK clients; an unreachable engine is one clear error."""

from __future__ import annotations

import os
from functools import lru_cache

from sandbox.errors import EngineUnavailable

DEFAULT_SOCKET = "/var/run/docker.sock"


@lru_cache(maxsize=1)
def get_client(timeout: int = 120):
    """A cached client from the environment (DOCKER_HOST etc.); pings once."""
    import docker  # lazy: keeps CLI start-up fast
    from docker.errors import DockerException

    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except DockerException as exc:
        raise EngineUnavailable(unreachable_message(exc)) from None
    return client


def unreachable_message(cause: BaseException | str) -> str:
    """One line naming where the engine was looked for (DOCKER_HOST or the default socket), why it did not
    answer, and how to fix it, instead of the SDK's `('Connection aborted.', FileNotFoundError(2, ...))`."""
    text = str(cause)
    host = os.environ.get("DOCKER_HOST", "").strip()
    where = f"{host} (DOCKER_HOST)" if host else f"unix://{DEFAULT_SOCKET} (the default; DOCKER_HOST is not set)"
    socket = host.removeprefix("unix://") if host.startswith("unix://") else (DEFAULT_SOCKET if not host else "")
    fix = ("start the engine (`sudo systemctl start docker`, or Docker Desktop)"
           + (" or point DOCKER_HOST at a running one (unset it for the default socket)" if host
              else " or set DOCKER_HOST to where it listens"))
    if "FileNotFoundError" in text or "No such file" in text:
        why = f"no socket at {socket}" if socket else "no such socket"
    elif "PermissionError" in text or "Permission denied" in text:
        why = f"permission denied on {socket or host}"
        fix = "add yourself to the docker group (`sudo usermod -aG docker $USER`, then log in again) or run as root"
    elif "Connection refused" in text or "ConnectionRefused" in text:
        why = "connection refused"
    elif "timed out" in text.lower() or "Timeout" in text:
        why = "no answer (timed out)"
    else:
        last = text.strip().splitlines()[-1] if text.strip() else type(cause).__name__
        why = " ".join(last.split())[:200]
    return f"cannot reach the Docker engine at {where}: {why}; {fix}"
