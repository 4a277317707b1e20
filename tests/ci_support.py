"""One rule for a missing prerequisite of an integration test: fail in CI, skip with the reason elsewhere."""

from __future__ import annotations

import os

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing_prerequisite(message: str) -> None:
    """A skipped integration test is a failed one in CI; locally it skips and says why."""
    if IN_CI:
        pytest.fail(message)
    pytest.skip(reason=message)


def cli_path() -> str:
    """The codex-sandbox entry point of the interpreter running the tests (never a bare name: PATH may
    hold another install, or none)."""
    from sandbox.tools import entry_point

    try:
        return entry_point("codex-sandbox")
    except FileNotFoundError as exc:
        missing_prerequisite(str(exc))
        raise
