"""verify run's test container has no network by default: only loopback, and nothing outside answers."""

from __future__ import annotations

import pytest

from runner.cli.main import main
from tests.conftest import git

pytestmark = pytest.mark.docker

NET_TEST = '''import os
import socket


def test_only_loopback():
    assert sorted(os.listdir("/sys/class/net")) == ["lo"]


def test_nothing_outside_answers():
    try:
        socket.create_connection(("1.1.1.1", 53), timeout=1).close()
    except OSError:
        return
    raise AssertionError("reached 1.1.1.1 from the verify container")
'''


def test_verify_runs_with_network_none(repo, monkeypatch, capsys):
    (repo / "tests").mkdir()
    (repo / "tests" / "test_net.py").write_text(NET_TEST)
    git(repo, "add", "tests")
    git(repo, "commit", "-q", "-m", "network tests")
    monkeypatch.chdir(repo)
    assert main(["verify", "run"]) == 0, capsys.readouterr()
    assert "2 tests" in capsys.readouterr().out
