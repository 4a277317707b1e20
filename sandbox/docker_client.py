"""The only module that creates Docker SDK clients; an unreachable engine is one clear error."""

from __future__ import annotations

from functools import lru_cache

from sandbox.errors import EngineUnavailable


@lru_cache(maxsize=1)
def get_client(timeout: int = 120):
    """A cached client from the environment (DOCKER_HOST etc.); pings once."""
    import docker  # lazy: keeps CLI start-up fast
    from docker.errors import DockerException

    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except DockerException as exc:
        raise EngineUnavailable(f"Docker engine unreachable: {exc}") from None
    return client
