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
