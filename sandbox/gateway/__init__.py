"""The model gateway: the containers' only door to the model; it alone holds the real key."""

from sandbox.gateway.config import ALLOWED_ROUTES, GatewayConfig, GatewayStatus, TokenUsage
from sandbox.gateway.gateway import Gateway

__all__ = ["ALLOWED_ROUTES", "Gateway", "GatewayConfig", "GatewayStatus", "TokenUsage"]
