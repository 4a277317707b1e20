"""The compose provider on the real engine (docker-compose 1.29 here): deploy, broken version rolls back."""

from __future__ import annotations

import secrets as pysecrets

import pytest

from runner.deploy.compose_provider import ComposeProvider
from runner.config.deploy import DeployConfig
from runner.deploy.service import Deployer
from tests.runner.deploy.app_fixture import commit_version, get, remove_project

pytestmark = pytest.mark.docker


def test_compose_deploy_and_rollback(repo, tmp_path):
    name = f"cxs-c{pysecrets.token_hex(3)}"
    cfg = DeployConfig.model_validate(
        {
            "provider": "compose",
            "project": name,
            "stop_timeout_s": 1,
            "environments": {"staging": {"health_timeout_s": 20}},
        }
    )
    provider = ComposeProvider(repo, cfg, state_dir=tmp_path / "state")
    deployer = Deployer(repo, cfg, provider=provider)
    try:
        good = commit_version(repo, "v1", compose=True)
        first = deployer.deploy("staging", commit=good)
        assert first.status == "deployed", first.message
        assert get(first.url) == "ok v1"
        assert first.image == f"{name}-web:{good[:12]}"

        broken = commit_version(repo, "broken", compose=True)
        second = deployer.deploy("staging", commit=broken)
        assert second.status == "rolled_back", second.message
        assert get(second.url) == "ok v1"
        status = provider.status("staging")
        assert (status.health, status.commit) == ("healthy", good)
    finally:
        provider.down("staging")
        remove_project(name)
