"""`codex-sandbox doctor` against the real engine, and with the engine unreachable."""

from __future__ import annotations

import json

import pytest

from runner.cli.main import main

TOOLS = ["git", "semgrep", "semgrep-core", "ruff", "detect-secrets", "pip-audit", "docker"]


@pytest.mark.docker
def test_doctor_reports_every_check(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    code = main(["doctor", "--json"])
    # the report comes first; a failing doctor adds the error object after it
    data, _ = json.JSONDecoder().raw_decode(capsys.readouterr().out)
    names = [c["name"] for c in data["checks"]]
    assert names == ["engine", "images", "seccomp", *TOOLS, "disk", "disk cap"]
    by = {c["name"]: c for c in data["checks"]}
    assert by["engine"]["ok"] and by["git"]["ok"]
    assert by["seccomp"]["ok"] or not by["images"]["ok"]
    assert code == (0 if data["ok"] else 1)
    assert all(c["fix"] for c in data["checks"] if not c["ok"])


def test_doctor_without_engine_fails_each_engine_check_with_a_fix(repo, monkeypatch, capsys):
    from sandbox.docker.client import get_client

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


def test_doctor_lists_every_tool_the_gates_run_with_version_and_place(repo, monkeypatch, capsys):
    from runner.ops.doctor import check_tools
    from sandbox.tools import install_dirs

    checks = {c.name: c for c in check_tools()}
    assert list(checks) == TOOLS
    for name in ("semgrep", "semgrep-core", "ruff", "detect-secrets", "git"):
        tool = checks[name].tool
        assert checks[name].ok and tool.required == (name != "semgrep-core"), name
        assert tool.path and tool.version and tool.path in checks[name].detail, name
    # the scanners come from this install, whatever PATH says
    beside = [str(d) for d in install_dirs()]
    assert any(checks["ruff"].tool.path.startswith(d) for d in beside)
    pip_audit = checks["pip-audit"]  # optional unless online_audit is on
    assert pip_audit.ok and not pip_audit.tool.required
    if pip_audit.tool.path is None:
        assert "optional" in pip_audit.detail


def test_doctor_fails_on_a_missing_required_tool_with_the_fix(repo, monkeypatch, capsys):
    from sandbox.docker.client import get_client
    from sandbox.tools import DISABLE_ENV

    get_client.cache_clear()
    monkeypatch.setenv(DISABLE_ENV, "ruff,semgrep")  # semgrep-core ships in the semgrep wheel: gone too
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    monkeypatch.chdir(repo)
    try:
        code = main(["doctor", "--json"])
    finally:
        get_client.cache_clear()
    data, _ = json.JSONDecoder().raw_decode(capsys.readouterr().out)
    by = {c["name"]: c for c in data["checks"]}
    assert code == 1 and not data["ok"]
    assert {n for n in TOOLS if by[n]["tool"]["path"] is None} >= {"ruff", "semgrep", "semgrep-core"}
    assert not by["ruff"]["ok"] and not by["semgrep"]["ok"] and DISABLE_ENV in by["ruff"]["fix"]
    assert by["semgrep-core"]["ok"]  # optional on its own: the wrapper is the fallback engine
    assert by["detect-secrets"]["ok"] and by["detect-secrets"]["tool"]["path"]
    assert all({"path", "version", "required", "used_by"} <= set(by[n]["tool"]) for n in TOOLS)


def test_which_tools_are_required_follows_the_policy():
    from runner.ops.doctor import check_tools
    from runner.config.policy import load_policy_config

    policy = load_policy_config({"security": {"dependencies": {"online_audit": True}},
                                 "quality": {"lint": {"enabled": False}}})  # fmt: skip
    checks = {c.name: c for c in check_tools(policy)}
    assert checks["pip-audit"].tool.required and not checks["ruff"].tool.required
    assert checks["pip-audit"].ok == (checks["pip-audit"].tool.path is not None)
