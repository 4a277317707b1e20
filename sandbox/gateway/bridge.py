"""The in-container half of the transport: socat serves the mounted gateway socket on loopback."""

from __future__ import annotations

CONTAINER_SOCKET_DIR = "/run/codex-gateway"  # where the pipeline mounts Gateway.socket_dir
DEFAULT_PORT = 18080


def container_base_url(port: int = DEFAULT_PORT) -> str:
    """The base URL Codex uses inside the container."""
    return f"http://127.0.0.1:{port}/v1"


def bridge_script(port: int = DEFAULT_PORT, socket_dir: str = CONTAINER_SOCKET_DIR) -> str:
    """Shell lines that start socat in the background and wait (up to 5 s) until it listens; exit 9 if not."""
    return f"""socat TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr UNIX-CONNECT:{socket_dir}/gateway.sock &
i=0
until python3 -c "import socket; socket.create_connection(('127.0.0.1', {port})).close()" 2>/dev/null; do
  i=$((i+1)); [ $i -gt 100 ] && {{ echo "gateway bridge: socat did not listen on {port}" >&2; exit 9; }}; sleep 0.05
done
"""
