"""What a running or finished gateway reports, read from its status (shared by both placements)."""

from __future__ import annotations

from sandbox.errors import BudgetExceeded, GatewayError
from sandbox.gateway.config import GatewayStatus, TokenUsage


class StatusViews:
    """usage/events/last_error/check derived from `status()`; subclasses provide `status()`."""

    def status(self) -> GatewayStatus | None:  # pragma: no cover - overridden
        raise NotImplementedError

    def usage(self) -> TokenUsage:
        """Tokens and responses counted so far."""
        st = self.status()
        return st.usage if st else TokenUsage()

    def events(self) -> list[dict]:
        """Audit events: retries, refusals, upstream failures, budget exhaustion."""
        st = self.status()
        return list(st.events) if st else []

    def last_error(self) -> str | None:
        """Why the latest model request failed (cleared by a later success), or None."""
        st = self.status()
        return st.last_error if st else None

    def check(self) -> None:
        """Raise BudgetExceeded when a budget ran out, GatewayError when the last model request failed."""
        st = self.status()
        if st is None:
            return
        if st.usage.budget_exceeded:
            reason = next(
                (e["reason"] for e in reversed(st.events) if e.get("type") == "budget_exceeded"), ""
            )
            raise BudgetExceeded(f"token budget exceeded: {reason}")
        if st.last_error:
            raise GatewayError(st.last_error)
