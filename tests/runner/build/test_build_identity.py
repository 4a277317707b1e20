"""A build on a machine where git has no identity (a fresh CI runner) commits as the product, never fails."""

from __future__ import annotations

import json
import subprocess

import pytest
from tests.runner.build.build_support import add_task, cli, configure, git

from sandbox.scripted_model.server import ScriptedModelServer

pytestmark = pytest.mark.docker


@pytest.mark.parametrize("configured", [None, {"name": "CI bot", "email": "ci-bot@example.invalid"}],
                         ids=["default", "configured"])
def test_build_without_a_git_identity_commits_as_the_product(build_repo, capsys, monkeypatch, configured):
    repo = build_repo
    for name in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL"):
        monkeypatch.delenv(name, raising=False)
    probe = subprocess.run(["git", "-C", str(repo), "-c", "user.useConfigOnly=true", "var", "GIT_AUTHOR_IDENT"],
                           capture_output=True, check=False)
    assert probe.returncode != 0  # really no identity: git itself would refuse to commit here
    script = {"responses": [{"exec": "echo hi > hello.txt"}, {"message": "wrote hello.txt"}]}
    with ScriptedModelServer(script) as model:
        configure(repo, model.base_url, **({"build": {"max_attempts": 1, "identity": configured}} if configured else {}))
        add_task(capsys, "write hello.txt", "hello.txt")
        code, out, err = cli(capsys, "--json", "build", "next")
    assert code == 0, err
    commit = json.loads(out)["commit"]
    who = git(repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>", commit)
    expected = (f"{configured['name']} <{configured['email']}>" if configured
                else "codex-sandbox <codex-sandbox@localhost>")
    assert who == f"{expected}|{expected}"
