"""The deploy gate: a commit adding a secret is refused (exit 3, nothing deployed); a human override
passes it, audited; the gate checks only what no earlier deploy gate saw."""

from __future__ import annotations

import json
import secrets as pysecrets

import pytest

from runner.cli.main import main
from runner.cli.policy import who_overrides
from runner.config.deploy import DeployConfig
from runner.deploy.gate import DeployBlocked
from runner.deploy.service import Deployer
from runner.errors import StateError
from runner.state.models import PlanVersion
from runner.policy.gitchanges import EMPTY_TREE
from runner.state.store import Store
from tests.conftest import git
from tests.runner.deploy.app_fixture import commit_version, get, mark_verified, remove_project

FAKE_TOKEN = "ghp_" + "R2d2C3poBb8Xx7Yy6Zz5Ww4Vv3Uu2Tt1Ss0Q"  # fake, realistic shape


def _planned(repo, state: str = "DEPLOYING") -> None:
    with Store.open(repo) as store:
        store.insert_plan(PlanVersion(version=1, status="approved"))
        store.set_lifecycle_state(state, "test")


def _add_secret(repo) -> str:
    (repo / "settings.py").write_text(f'GITHUB_TOKEN = "{FAKE_TOKEN}"\n')
    git(repo, "add", "settings.py")
    git(repo, "commit", "-q", "-m", "settings")
    return git(repo, "rev-parse", "HEAD")


def _violations(store) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    from runner.ops.metrics import render

    return next(s.value for f in text_string_to_metric_families(render(store)) for s in f.samples
                if s.name == "policy_violations_total" and s.labels == {"decision": "block"})  # fmt: skip


def _project_objects(name: str) -> list:
    from runner.deploy.base import PROJECT_LABEL
    from sandbox.docker.client import get_client

    client = get_client()
    flt = {"label": f"{PROJECT_LABEL}={name}"}
    return client.containers.list(all=True, filters=flt) + client.images.list(filters=flt)


@pytest.mark.docker
def test_secret_blocks_the_deploy_and_an_override_passes_it(repo, monkeypatch, capsys):
    name = f"cxs-g{pysecrets.token_hex(3)}"
    commit_version(repo, "v1")
    sha = _add_secret(repo)
    _planned(repo)
    with Store.open(repo) as store:
        mark_verified(store, sha)
    (repo / ".codex" / "config.yaml").write_text(
        f"deploy:\n  project: {name}\n  environments:\n    staging: {{health_timeout_s: 20}}\n"
        "    prod: {health_timeout_s: 20}\n"
    )
    monkeypatch.chdir(repo)
    try:
        assert main(["--json", "deploy", "staging", "--commit", "HEAD"]) == 3
        captured = capsys.readouterr()
        out = json.loads(captured.out)
        assert out["blocked"] and out["report"]["decision"] == "block"
        blocking = [f for f in out["report"]["findings"] if f["blocking"]]
        assert [(f["rule"], f["file"]) for f in blocking] == [("secret.github-token", "settings.py")]
        assert "nothing was deployed" in captured.err and FAKE_TOKEN not in captured.out + captured.err
        assert _project_objects(name) == []  # no image built, no container started
        with Store.open(repo) as store:
            runs = store.list_runs(kind="deploy")
            assert [(r.status, r.commit) for r in runs] == [("blocked", sha)]
            assert store.lifecycle_state() == "DEPLOYING"
            assert store.audit_events(event="deploy.gated")[-1].details["decision"] == "block"

        # An override needs a reason; with one, a human passes the finding once and it is audited.
        assert main(["deploy", "staging", "--commit", "HEAD", "--override", "secret.github-token"]) == 2
        capsys.readouterr()
        code = main(["--json", "deploy", "staging", "--commit", "HEAD",
                     "--override", "secret.github-token:settings.py", "--reason", "revoked test token"])  # fmt: skip
        out = json.loads(capsys.readouterr().out)
        assert code == 0 and out["status"] == "deployed", out
        assert get(out["url"]) == "ok v1"
        with Store.open(repo) as store:
            run = store.list_runs(kind="deploy")[-1]
            assert run.status == "succeeded"
            gate = run.details["gate"]
            assert gate["decision"] == "warn" and gate["base"] is None  # first deploy: the whole tree
            assert gate["overrides"][0]["reason"] == "revoked test token"
            (override,) = store.audit_events(event="policy.override")
            assert override.details["rule"] == "secret.github-token:settings.py"
            assert override.details["by"] == who_overrides(repo)  # the human, as `policy check` names them

        # prod, approved: its gate diffs against what staging's gate saw (nothing new: no override needed)
        assert main(["--json", "deploy", "prod", "--commit", "HEAD", "--approve"]) == 0, capsys.readouterr()
        assert json.loads(capsys.readouterr().out)["status"] == "deployed"
        with Store.open(repo) as store:
            run = store.list_runs(kind="deploy")[-1]
            assert run.details["gate"]["base"] == sha and run.details["gate"]["decision"] == "pass"
            (approved,) = store.audit_events(event="deploy.approved")
            assert approved.details["env"] == "prod" and approved.details["via"] == "flag"
            assert store.lifecycle_state() == "OBSERVING"  # the last environment is live: observe it
    finally:
        remove_project(name)


def test_the_gate_checks_only_what_no_earlier_deploy_gate_saw(repo):
    """Deployer.check alone (the provider is never called): bases, lifted size limits, a model never overrides."""
    (repo / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    for i in range(60):  # over the per-task file limit: a release is not a task's change
        (repo / f"mod{i}.py").write_text(f"VALUE = {i}\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "many files")
    first = git(repo, "rev-parse", "HEAD")
    _planned(repo)
    with Store.open(repo) as store:
        deployer = Deployer(repo, DeployConfig(), store=store)
        with pytest.raises(StateError, match="no passing verify run"):  # with a plan: verified commits only
            deployer.deploy("staging", commit=first)
        assert store.list_runs(kind="deploy") == [] and store.audit_events(event="deploy.gated") == []
        record = deployer.check("staging", first)
        assert record["decision"] == "pass" and record["base"] is None, record
        # prod after staging of the same commit: an empty diff against what staging's gate saw
        assert deployer.check("prod", first)["base"] == first
        second = _add_secret(repo)
        with pytest.raises(DeployBlocked) as blocked:
            deployer.check("staging", second)
        assert blocked.value.exit_code == 3 and blocked.value.base == first
        assert [f.file for f in blocked.value.report.findings] == ["settings.py"]  # only the new change
        assert _violations(store) == 1  # the block counts in policy_violations_total
        # a blocked commit never becomes a base; a model can never override
        assert deployer.plan("staging", second)["policy_gate"] == f"{first[:12]}..{second[:12]}"
        with pytest.raises(Exception, match="never override"):
            deployer.check("staging", second, overrides=[{"rule": "secret.github-token", "reason": "x"}],
                           actor="model")  # fmt: skip
    with Store.open(repo) as store:
        assert Deployer(repo, DeployConfig()).plan("staging", first)["policy_gate"].endswith("first deploy)")
        assert store.list_runs(kind="deploy")[-1].status == "blocked"


def test_gate_base_without_store_is_the_empty_tree(repo):
    from runner.deploy.gate import gate_base

    assert gate_base(None, "staging") == EMPTY_TREE


def test_the_secret_store_keeps_codex_out_of_commits(repo, monkeypatch):
    """`git add -A` once committed .codex/secrets.enc; the deploy gate blocked that release (prohibited path)."""
    from runner.state.secrets import open_store

    open_store(repo, "pw-gate-test").set("TOKEN", FAKE_TOKEN)
    git(repo, "add", "-A")
    assert git(repo, "status", "--porcelain") == ""  # nothing under .codex/ was staged
