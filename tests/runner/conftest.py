"""Fixtures shared by the build tests."""

from __future__ import annotations

import pytest
from tests.runner.build.build_support import FAKE_KEY, codex_image


@pytest.fixture
def build_repo(repo, monkeypatch):
    """The conftest repo as the working directory, a fake real-looking key on the host, the codex image built."""
    codex_image()
    monkeypatch.chdir(repo)
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    return repo
