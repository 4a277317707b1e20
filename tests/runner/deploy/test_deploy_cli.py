"""deploy CLI without the engine: dry-run plan, approval refused (3), no verified commit (5), config."""

from __future__ import annotations

import json

import pytest

from runner.cli.main import main
from runner.config.load import load_config
from runner.errors import InvalidInput
from runner.state.store import Store
from tests.conftest import git


def test_dry_run_prints_the_plan_and_changes_nothing(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    sha = git(repo, "rev-parse", "HEAD")
    assert main(["--json", "--dry-run", "deploy", "staging", "--commit", "HEAD"]) == 0
    plan = json.loads(capsys.readouterr().out)["plan"]
    assert (
        plan["commit"] == sha and plan["container"] == "repo-staging" and plan["requires_approval"] is False
    )
    assert plan["image"] == f"repo-app:{sha[:12]}"
    with Store.open(repo) as store:
        assert store.list_runs(kind="deploy") == []


def test_prod_refused_without_approval_and_audited_nothing(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    assert main(["--json", "deploy", "prod", "--commit", "HEAD"]) == 3
    assert "needs approval" in json.loads(capsys.readouterr().out)["error"]["message"]
    monkeypatch.setenv("CI", "true")
    assert main(["deploy", "rollback", "prod"]) == 3
    with Store.open(repo) as store:
        assert store.list_runs(kind="deploy") == [] and store.audit_events(event="deploy.approved") == []


def test_no_verified_commit_is_a_state_error(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    assert main(["deploy", "staging"]) == 5
    assert "verify run" in capsys.readouterr().err


def test_deploy_without_plan_follows_the_lifecycle_table(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    assert main(["deploy", "staging", "--commit", "HEAD"]) == 5  # deploy is lifecycle work: needs a plan


def test_deploy_config_is_validated(repo):
    cfg_dir = repo / ".codex"
    cfg_dir.mkdir()
    (cfg_dir / "config.yaml").write_text("deploy:\n  environments:\n    qa: {port: 9000, bogus: 1}\n")
    with pytest.raises(InvalidInput, match="bogus"):
        load_config(repo)
    (cfg_dir / "config.yaml").write_text(
        "deploy:\n  provider: compose\n  environments:\n    qa: {port: 9000, requires_approval: true}\n"
    )
    cfg = load_config(repo).config.deploy
    assert cfg.provider == "compose" and cfg.environments["qa"].needs_approval("qa")
    assert list(cfg.environments) == ["staging", "prod", "qa"]  # layers merge onto the defaults
