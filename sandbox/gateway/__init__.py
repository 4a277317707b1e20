"""The model gateway: the containers' only door to the model; it alone holds the real key."""

from sandbox.gateway.bridge import CONTAINER_SOCKET_DIR, DEFAULT_PORT, bridge_script, container_base_url
from sandbox.gateway.config import ALLOWED_ROUTES, GatewayConfig, GatewayStatus, TokenUsage
from sandbox.gateway.gateway import Gateway

__all__ = [
    "ALLOWED_ROUTES",
    "CONTAINER_SOCKET_DIR",
    "DEFAULT_PORT",
    "Gateway",
    "GatewayConfig",
    "GatewayStatus",
    "TokenUsage",
    "bridge_script",
    "container_base_url",
]
