"""`build next` with the gateway as a sidecar container (the remote-engine mode), forced on this engine."""

from __future__ import annotations

import json

import pytest
from tests.runner.build.build_support import (
    FAKE_KEY,
    add_task,
    cli,
    codex_image,
    configure,
    db_rows,
    git,
    leftover_containers,
    run_dir,
)

from sandbox.scripted_model.server import ScriptedModelServer

pytestmark = pytest.mark.docker


@pytest.fixture(autouse=True)
def _reaped(repo):
    """The repo's internal network and any leftover is reaped even when a test fails."""
    yield
    from sandbox.gc import reap

    reap(repo, include_live=True)


@pytest.mark.timeout(240)
def test_build_next_through_the_sidecar_gateway_lands_a_commit(repo, monkeypatch, capsys):

    from tests.sandbox.gateway.sidecar_support import service_image

    from sandbox.docker import labels
    from sandbox.docker.client import get_client

    codex_image()
    service_image()
    monkeypatch.chdir(repo)
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    base = git(repo, "rev-parse", "main")
    script = {
        "responses": [
            # what the container holds of the key (no OPENAI_API_KEY, no sk-proj value) and of a gateway socket
            {
                "exec": "{ env | grep -c '^OPENAI_API_KEY=' ; env | grep -c 'sk-proj' ; "
                "ls /run/codex-gateway 2>/dev/null | wc -l ; } > keys.txt; "
                "printf 'hi\\n' > hello.txt"
            },
            {"message": "Created hello.txt."},
        ]
    }
    # the model listens on all addresses: the sidecar reaches the host through host-gateway
    with ScriptedModelServer(script, host="0.0.0.0", api_key=FAKE_KEY) as model:
        configure(repo, f"http://127.0.0.1:{model.port}/v1", llm={"gateway": "sidecar"})
        task_id = add_task(capsys, "Create hello.txt", "hello.txt", "keys.txt")
        code, out, err = cli(capsys, "--json", "build", "next")
    assert code == 0, err
    result = json.loads(out)
    assert result["status"] == "succeeded"
    head = git(repo, "rev-parse", "main")
    assert head != base
    assert git(repo, "log", "-1", "--format=%(trailers:key=Task-Id,valueonly)", "main") == task_id
    assert git(repo, "show", "main:hello.txt") == "hi"
    assert git(repo, "show", "main:keys.txt").split() == ["0", "0", "0"]
    assert len(model.requests) == 2 and all(
        r.headers.get("authorization") == f"Bearer {FAKE_KEY}" for r in model.requests
    )

    # usage came back from the sidecar's status like in socket mode
    rd = run_dir(repo, task_id)
    manifest = json.loads((rd / "manifest.json").read_text())
    assert manifest["model"]["gateway"] == "sidecar"
    assert manifest["tokens"]["requests"] == 2 and manifest["tokens"]["input"] == 200
    assert db_rows(repo, "SELECT tokens_in, tokens_out FROM runs WHERE id = ?", result["run_id"]) == [
        (200, 40)
    ]
    assert (rd / "gateway-status.json").is_file() and (rd / "gateway.log").is_file()
    assert len(list((repo / ".codex" / "cache").glob("*.json"))) == 2  # recordings copied back

    # nothing of the run left on the engine but the per-repo network (reaped by gc once unused)
    assert leftover_containers(repo) == []
    client = get_client()
    assert client.volumes.list(filters={"label": f"{labels.REPO_ID}={labels.repo_id(repo)}"}) == []
    from sandbox.gc import reap

    report = reap(repo)
    assert report.networks == [f"codex-sandbox-gw-{labels.repo_id(repo)}"]

    # replay through the sidecar (recordings copied in), no upstream at all: the identical diff
    first = (rd / "diff.patch").read_text()
    git(repo, "reset", "-q", "--hard", base)
    git(repo, "branch", "-q", "-D", f"codex/{task_id}")
    from runner.state.store import Store

    with Store.open(repo) as store:
        store.update_task(task_id, event="test.reset", status="pending", commit=None)
    configure(repo, "http://127.0.0.1:9/v1", llm={"gateway": "sidecar", "mode": "replay"})
    code, out, err = cli(capsys, "--json", "build", "next")
    assert code == 0, err
    assert (run_dir(repo, task_id) / "diff.patch").read_text() == first
    assert git(repo, "show", "main:hello.txt") == "hi"
    reap(repo)


@pytest.mark.timeout(240)
def test_token_budget_through_the_sidecar_stops_the_run_with_exit_4(repo, monkeypatch, capsys):

    from tests.sandbox.gateway.sidecar_support import service_image

    from sandbox.gc import reap

    codex_image()
    service_image()
    monkeypatch.chdir(repo)
    base = git(repo, "rev-parse", "main")
    script = {
        "responses": [
            {"exec": "echo one > one.txt"},  # 120 tokens
            {"exec": "echo two > two.txt"},  # 240: over the budget of 150
            {"message": "done"},  # refused by the gateway
        ]
    }
    with ScriptedModelServer(script, host="0.0.0.0") as model:
        configure(
            repo, f"http://127.0.0.1:{model.port}/v1", llm={"gateway": "sidecar", "run_token_budget": 150}
        )
        task_id = add_task(capsys, "Write files")
        code, out, err = cli(capsys, "--json", "build", "next")
    assert code == 4, err
    result = json.loads(out)
    assert result["outcome"] == "budget_exceeded" and "budget" in result["error"]["message"]
    assert len(model.requests) == 2
    assert git(repo, "rev-parse", "main") == base
    assert db_rows(repo, "SELECT count(*) FROM audit_log WHERE event = 'gateway.budget_exceeded'") == [(1,)]
    assert db_rows(repo, "SELECT status FROM tasks WHERE id = ?", task_id) == [("failed",)]
    assert leftover_containers(repo) == []
    reap(repo)
