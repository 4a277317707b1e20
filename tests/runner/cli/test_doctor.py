"""`codex-sandbox doctor` against the real engine, and with the engine unreachable."""

from __future__ import annotations

import json

import pytest

from runner.cli.main import main


@pytest.mark.docker
def test_doctor_reports_every_check(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    code = main(["doctor", "--json"])
    # the report comes first; a failing doctor adds the error object after it
    data, _ = json.JSONDecoder().raw_decode(capsys.readouterr().out)
    names = [c["name"] for c in data["checks"]]
    assert names == ["engine", "images", "seccomp", "git", "disk"]
    by = {c["name"]: c for c in data["checks"]}
    assert by["engine"]["ok"] and by["git"]["ok"]
    assert by["seccomp"]["ok"] or not by["images"]["ok"]
    assert code == (0 if data["ok"] else 1)
    assert all(c["fix"] for c in data["checks"] if not c["ok"])


def test_doctor_without_engine_fails_each_engine_check_with_a_fix(repo, monkeypatch, capsys):
    from sandbox.docker_client import get_client

    get_client.cache_clear()
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    monkeypatch.chdir(repo)
    try:
        code = main(["doctor"])
    finally:
        get_client.cache_clear()
    out = capsys.readouterr().out
    assert code == 1
    assert out.count("FAIL") == 3 and "fix: start dockerd" in out
    assert "ok   git" in out
