"""A small real HTTP app to staging on the real engine; a broken version rolls back; prod needs approval."""

from __future__ import annotations

import hashlib
import json
import secrets as pysecrets
from pathlib import Path

import pytest

from runner.cli.main import main
from runner.config.deploy import DeployConfig
from runner.deploy.service import Deployer
from runner.errors import PolicyViolation
from runner.state.models import PlanVersion
from runner.state.secrets import open_store
from runner.state.store import Store
from tests.runner.deploy.app_fixture import commit_version, get, mark_verified, remove_project

pytestmark = pytest.mark.docker

FAKE_TOKEN = "ghp_" + "R2d2C3poBb8Xx7Yy6Zz5Ww4Vv3Uu2Tt1Ss0Q"  # fake, realistic shape


@pytest.fixture
def project(repo, monkeypatch):
    name = f"cxs-t{pysecrets.token_hex(3)}"
    yield name
    remove_project(name)


def config(project: str) -> DeployConfig:
    steps = [
        {"name": "migrate", "phase": "pre", "command": "test -f app.py && echo migrated"},
        {
            "name": "smoke",
            "phase": "post",
            "network": "app",
            "secrets": ["SMOKE_TOKEN"],
            "command": 'python3 -c "import os,urllib.request;'
            "print(urllib.request.urlopen(os.environ['APP_URL']+'/health',timeout=5).read().decode())\" "
            '&& printf %s "$SMOKE_TOKEN" | sha256sum && echo "raw=$SMOKE_TOKEN"',
        },
        {"name": "nosecret", "phase": "post", "command": 'echo "other=${SMOKE_TOKEN:-absent}"'},
    ]
    return DeployConfig.model_validate(
        {
            "project": project,
            "environments": {
                "staging": {"health_timeout_s": 20, "steps": steps},
                "prod": {"health_timeout_s": 20},
            },
        }
    )


def test_deploy_staging_rollback_and_prod_approval(repo, project, monkeypatch, capsys):
    monkeypatch.setenv("CODEX_MASTER_PASSWORD", "pw-deploy-test")
    open_store(repo).set("SMOKE_TOKEN", FAKE_TOKEN)
    good = commit_version(repo, "v1")
    cfg = config(project)
    with Store.open(repo) as store:
        store.insert_plan(PlanVersion(version=1, status="approved"))
        store.set_lifecycle_state("DEPLOYING", "test")
        mark_verified(store, good)
        deployer = Deployer(repo, cfg, store=store, secrets=open_store(repo).subset)

        first = deployer.deploy("staging", commit=good)
        assert first.status == "deployed", first.message
        assert get(first.url) == "ok v1"
        assert [s["name"] for s in first.steps] == ["migrate", "smoke", "nosecret"]
        assert all(s["ok"] for s in first.steps), first.steps

        # The secret reached the step that names it (its hash is in the log), never in clear.
        logs = {Path(s["log"]).stem: Path(s["log"]).read_text() for s in first.steps}
        assert hashlib.sha256(FAKE_TOKEN.encode()).hexdigest() in logs["smoke"]
        assert "raw=***" in logs["smoke"]
        assert "other=absent" in logs["nosecret"]
        app = deployer.provider.client.containers.get(f"{project}-staging")
        assert not any(FAKE_TOKEN in e for e in app.attrs["Config"]["Env"])

        broken = commit_version(repo, "broken")
        mark_verified(store, broken)  # its tests pass; its app does not start
        second = deployer.deploy("staging", commit=broken)
        assert second.status == "rolled_back", second.message
        assert second.commit == good and second.previous_commit == broken
        assert get(second.url) == "ok v1"
        status = deployer.provider.status("staging")
        assert (status.state, status.health, status.commit) == ("running", "healthy", good)

        with pytest.raises(PolicyViolation):
            deployer.deploy("prod", commit=good)
        runs = store.list_runs(kind="deploy")
        assert [r.status for r in runs] == ["succeeded", "failed"]
        rolled = store.audit_events(event="deploy.rolled_back")
        assert len(rolled) == 1 and rolled[0].run_id == runs[1].id
        assert rolled[0].details["previous_commit"] == broken

    monkeypatch.chdir(repo)
    (repo / ".codex" / "config.yaml").write_text(f"deploy:\n  project: {project}\n")
    assert main(["--json", "deploy", "prod", "--commit", good]) == 3
    assert "needs approval" in json.loads(capsys.readouterr().out)["error"]["message"]

    # observe: healthy staging, its logs; then a dead app is an issue → MAINTAINING and a patch task.
    assert main(["--json", "observe", "status", "staging"]) == 0
    env_status = json.loads(capsys.readouterr().out)["environments"][0]
    assert (env_status["health"], env_status["commit"]) == ("healthy", good)
    assert main(["observe", "logs", "staging"]) == 0
    assert "GET /health" in capsys.readouterr().out
    with Store.open(repo) as store:
        store.set_lifecycle_state("OBSERVING", "test")
    deployer.provider.client.containers.get(f"{project}-staging").stop(timeout=1)  # the restored container
    assert main(["--json", "observe", "status"]) == 1
    issues = json.loads(capsys.readouterr().out)["issues"]
    assert len(issues) == 1 and issues[0]["env"] == "staging" and issues[0]["task"]
    with Store.open(repo) as store:
        assert store.lifecycle_state() == "MAINTAINING"
        assert store.get_task(issues[0]["task"]).type == "patch"

    # The value is in no file under .codex except the encrypted store.
    for path in (repo / ".codex").rglob("*"):
        if path.is_file() and path.name != "secrets.enc":
            assert FAKE_TOKEN.encode() not in path.read_bytes(), path
