"""End to end on the real engine: the real Codex CLI in the sandbox edits a worktree, the host gates and commits."""

from __future__ import annotations

import json
import threading

import pytest
from tests.runner.build.build_support import (
    FAKE_KEY,
    add_task,
    branch_exists,
    cli,
    configure,
    db_rows,
    git,
    leftover_containers,
    live_worktrees,
    run_dir,
)

from sandbox.scripted_model.server import ScriptedModelServer

pytestmark = pytest.mark.docker

CREATE_AND_MODIFY = (
    "*** Begin Patch\n"
    "*** Add File: greet.py\n"
    "+def greet(name):\n"
    "+    return f\"hello {name}\"\n"
    "*** Update File: app.py\n"
    "@@\n"
    " def add(a, b):\n"
    "     return a + b\n"
    "+\n"
    "+\n"
    "+def sub(a, b):\n"
    "+    return a - b\n"
    "*** End Patch"
)


def test_build_next_commits_what_codex_changed(build_repo, capsys):
    repo = build_repo
    base = git(repo, "rev-parse", "main")
    script = {"responses": [
        {"apply_patch": CREATE_AND_MODIFY},
        {"exec": "printf 'notes\\n' > NOTES.md && sed -i 's/return a + b/return b + a/' app.py"},
        {"message": "Added greet.py and sub(), notes written."},
    ]}
    with ScriptedModelServer(script) as model:
        configure(repo, model.base_url)
        task_id = add_task(capsys, "Add greet() and sub()", "greet.py", "app.py", "NOTES.md")
        code, out, err = cli(capsys, "--json", "build", "next")
    assert code == 0, err
    result = json.loads(out)
    assert result["status"] == "succeeded" and result["task_id"] == task_id

    # the commit is on the integration branch (checked out: working tree updated too), with the trailers
    head = git(repo, "rev-parse", "main")
    assert head != base and git(repo, "rev-parse", f"codex/{task_id}") == head  # fast-forward
    assert git(repo, "log", "-1", "--format=%(trailers:key=Task-Id,valueonly)", "main") == task_id
    assert git(repo, "log", "-1", "--format=%(trailers:key=Run-Id,valueonly)", "main") == result["run_id"]
    assert git(repo, "show", "main:greet.py").startswith("def greet(name):")
    assert "def sub(a, b)" in git(repo, "show", "main:app.py") and "return b + a" in git(repo, "show", "main:app.py")
    assert git(repo, "show", "main:NOTES.md") == "notes"
    assert (repo / "greet.py").is_file() and git(repo, "status", "--porcelain") == ""

    # the model saw the gateway's upstream call with the real key; Codex only ever had the run token
    assert len(model.requests) == 3
    assert all(r.headers.get("authorization") == f"Bearer {FAKE_KEY}" for r in model.requests)

    # manifest, artifacts, token counts in the store
    rd = run_dir(repo, task_id)
    manifest = json.loads((rd / "manifest.json").read_text())
    assert manifest["status"] == "succeeded" and manifest["run_id"] == result["run_id"]
    for key in ("prompt", "image", "diff", "gate_report"):
        assert manifest["hashes"][key], key
    assert manifest["tokens"]["input"] == 300 and manifest["tokens"]["output"] == 60
    assert manifest["tokens"]["requests"] == 3
    assert manifest["gates"]["decision"] in ("pass", "warn")
    assert manifest["git"]["commit"] == head
    assert {"prompt.md", "events.jsonl", "diff.patch", "gates.json"} <= set(manifest["artifacts"])
    events = [json.loads(line) for line in (rd / "events.jsonl").read_text().splitlines()]
    kinds = {e["item"]["type"] for e in events if e["type"] == "item.completed"}
    assert {"file_change", "command_execution", "agent_message"} <= kinds
    assert "+def greet(name):" in (rd / "diff.patch").read_text()
    assert db_rows(repo, "SELECT status, tokens_in, tokens_out, commit_sha FROM runs WHERE id = ?",
                   result["run_id"]) == [("succeeded", 300, 60, head)]
    assert db_rows(repo, "SELECT status FROM tasks WHERE id = ?", task_id) == [("completed",)]

    # nothing left behind
    assert leftover_containers(repo) == []
    assert live_worktrees(repo) == []

    # and the next `build next` has nothing to do
    code, out, _ = cli(capsys, "--json", "build", "next")
    assert code == 0 and json.loads(out)["built"] is None


def test_run_free_text_builds_an_adhoc_task(build_repo, capsys):
    repo = build_repo
    script = {"responses": [
        {"exec": "printf 'hi\\n' > hello.txt"},
        {"message": "Created hello.txt."},
    ]}
    with ScriptedModelServer(script) as model:
        configure(repo, model.base_url)
        code, out, err = cli(capsys, "--json", "run", "Create hello.txt containing hi")
    assert code == 0, err
    result = json.loads(out)
    assert git(repo, "show", "main:hello.txt") == "hi"
    task = db_rows(repo, "SELECT type, title, status FROM tasks WHERE id = ?", result["task_id"])
    assert task == [("implement", "Create hello.txt containing hi", "completed")]
    assert "Create hello.txt containing hi" in model.requests[0].body.decode()


def test_container_holds_no_key_and_reaches_nothing_but_the_gateway(build_repo, capsys):
    import base64
    import socket

    repo = build_repo
    canary = socket.socket()
    canary.bind(("0.0.0.0", 0))
    canary.listen(8)
    canary.settimeout(0.2)
    port = canary.getsockname()[1]
    accepted: list = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(canary.accept()[0])
            except OSError:
                continue

    threading.Thread(target=accept, daemon=True).start()
    targets = [f"{ip}:{port}" for ip in _host_addresses()] + [f"127.0.0.1:{port}", "1.1.1.1:443"]
    key_b64 = base64.b64encode(FAKE_KEY.encode()).decode()  # the probe never carries the key in clear
    probe = (
        f"K=$(echo {key_b64} | base64 -d); "
        "echo \"env-hits=$(env | grep -cF \"$K\")\"; "
        "echo \"proc-hits=$(cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | grep -cF \"$K\")\"; "
        "echo \"file-hits=$(grep -rlsIF --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev -e \"$K\" / | wc -l)\"; "
        "echo \"token-vars=$(env | grep -c '^CODEX_GATEWAY_TOKEN=cxs-run-')\"; "
        f"for t in {' '.join(targets)}; do "
        "if timeout 3 bash -c \"echo x > /dev/tcp/${t%:*}/${t#*:}\" 2>/dev/null; then echo \"CONNECTED $t\"; "
        "else echo \"refused $t\"; fi; done; "
        "getent hosts example.com >/dev/null && echo DNS-RESOLVED || echo dns-failed; "
        "echo \"mounts=$(awk '{print $5}' /proc/self/mountinfo | grep -Ev '^/(proc|sys|dev)(/|$)' | sort -u | tr '\\n' ,)\"; "
        "echo probe-done > probe.txt"
    )
    script = {"responses": [{"exec": probe}, {"message": "probed"}]}
    try:
        with ScriptedModelServer(script) as model:
            configure(repo, model.base_url)
            task_id = add_task(capsys, "Probe the sandbox")
            code, _out, err = cli(capsys, "--json", "build", "next")
    finally:
        stop.set()
    assert code == 0, err
    rd = run_dir(repo, task_id)
    events = [json.loads(line) for line in (rd / "events.jsonl").read_text().splitlines()]
    output = next(e["item"]["aggregated_output"] for e in events
                  if e["type"] == "item.completed" and e["item"]["type"] == "command_execution")
    assert "env-hits=0" in output and "proc-hits=0" in output and "file-hits=0" in output, output
    assert "token-vars=1" in output, output  # the probe really read the environment
    assert "CONNECTED" not in output and output.count("refused ") == len(targets), output
    assert "DNS-RESOLVED" not in output
    mounts = set(output.split("mounts=", 1)[1].split("\n", 1)[0].strip(",").split(","))
    docker_defaults = {"/", "/etc/resolv.conf", "/etc/hostname", "/etc/hosts", "/sbin/docker-init", "/usr/sbin/docker-init"}
    # the only host paths: the worktree (its .git covered) and the gateway's socket directory
    assert mounts - docker_defaults == {"/workspace", "/workspace/.git", "/run/codex-gateway", "/tmp", "/home/sandbox"}
    assert accepted == []
    # and the key appears in nothing the run left on the host side either
    for path in (repo / ".codex").rglob("*"):
        if path.is_file():
            assert FAKE_KEY.encode() not in path.read_bytes(), path
    assert all(r.headers.get("authorization") == f"Bearer {FAKE_KEY}" for r in model.requests)


def test_a_fake_aws_key_is_blocked_and_nothing_is_committed(build_repo, capsys):
    repo = build_repo
    base = git(repo, "rev-parse", "main")
    leak = (
        "*** Begin Patch\n*** Add File: settings.py\n"
        "+AWS_ACCESS_KEY_ID = \"AKIAQ3ZT7RLP2XW5N4YH\"\n"
        "+AWS_SECRET_ACCESS_KEY = \"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\"\n"
        "*** End Patch"
    )
    with ScriptedModelServer({"responses": [{"apply_patch": leak}, {"message": "configured"}]}) as model:
        configure(repo, model.base_url)
        task_id = add_task(capsys, "Configure AWS")
        code, out, err = cli(capsys, "--json", "build", "next")
    assert code == 3, err
    result = json.loads(out)
    assert result["status"] == "blocked" and result["gate_decision"] == "block"
    assert git(repo, "rev-parse", "main") == base and not branch_exists(repo, f"codex/{task_id}")
    assert not (repo / "settings.py").exists()
    status, last_error = db_rows(repo, "SELECT status, last_error FROM tasks WHERE id = ?", task_id)[0]
    assert status == "failed" and "blocked" in last_error
    gates = json.loads((run_dir(repo, task_id) / "gates.json").read_text())
    blocking = [f for f in gates["findings"] if f["blocking"]]
    assert blocking and all(f["file"] == "settings.py" for f in blocking)
    assert any("secret" in (f["gate"] + f["rule"] + f["message"]).lower() or "aws" in f["rule"].lower()
               for f in blocking)
    assert "AKIAQ3ZT7RLP2XW5N4YH" in (run_dir(repo, task_id) / "diff.patch").read_text()  # artifacts kept
    assert json.loads((run_dir(repo, task_id) / "manifest.json").read_text())["status"] == "blocked"
    assert leftover_containers(repo) == [] and live_worktrees(repo) == []


def test_a_merge_conflict_fails_the_task_and_merges_nothing(build_repo, capsys):
    repo = build_repo
    change = "*** Begin Patch\n*** Update File: app.py\n@@\n-    return a + b\n+    return sum((a, b))\n*** End Patch"
    script = {"responses": [{"apply_patch": change}, {"message": "done", "delay_s": 1.5}]}
    with ScriptedModelServer(script) as model:
        configure(repo, model.base_url)
        task_id = add_task(capsys, "Use sum")

        def user_commits_meanwhile() -> None:  # the user changes the same line while Codex works
            for _ in range(200):
                if len(model.requests) >= 2:
                    break
                threading.Event().wait(0.05)
            (repo / "app.py").write_text("def add(a, b):\n    return int(a) + int(b)\n")
            git(repo, "commit", "-qam", "user change")

        t = threading.Thread(target=user_commits_meanwhile)
        t.start()
        code, out, err = cli(capsys, "--json", "build", "next")
        t.join()
    assert code == 1, err
    result = json.loads(out)
    assert result["outcome"] == "merge_conflict" and "conflict" in result["error"]["message"]
    assert git(repo, "log", "-1", "--format=%s", "main") == "user change"
    assert git(repo, "status", "--porcelain") == ""
    assert not (repo / ".git" / "MERGE_HEAD").exists()
    assert db_rows(repo, "SELECT status FROM tasks WHERE id = ?", task_id) == [("failed",)]


def test_dry_run_shows_the_plan_and_touches_nothing(build_repo, capsys):
    repo = build_repo
    configure(repo, "http://127.0.0.1:9/v1")
    task_id = add_task(capsys, "Something")
    before = sorted(str(p.relative_to(repo)) for p in (repo / ".codex").rglob("*"))
    db_before = (repo / ".codex" / "state.db").read_bytes()
    code, out, err = cli(capsys, "--json", "--dry-run", "build", "next")
    assert code == 0, err
    plan = json.loads(out)
    assert plan["dry_run"] is True and task_id in plan["task"] and "steps" in plan
    assert sorted(str(p.relative_to(repo)) for p in (repo / ".codex").rglob("*")) == before
    assert (repo / ".codex" / "state.db").read_bytes() == db_before
    assert db_rows(repo, "SELECT status, attempts FROM tasks") == [("pending", 0)]


def _host_addresses() -> list[str]:
    """The host's addresses a container could try: the docker bridge gateway and the host's own IPs."""
    import subprocess

    from docker import errors as docker_errors

    from sandbox.docker.client import get_client

    ips = set()
    try:
        bridge = get_client().networks.get("bridge").attrs
        ips.update(c["Gateway"] for c in bridge["IPAM"]["Config"] if c.get("Gateway"))
    except (KeyError, docker_errors.NotFound):  # no default bridge here: the host IPs below still cover it
        ips.discard("")
    out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, check=False).stdout.split()
    ips.update(ip for ip in out if ":" not in ip)
    return sorted(ips)


def test_no_key_for_openai_is_one_clear_line_and_touches_no_task(repo, capsys, monkeypatch):
    monkeypatch.chdir(repo)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    task_id = add_task(capsys, "Anything")
    code, _, err = cli(capsys, "build", "next")
    assert code == 2 and "no API key: set OPENAI_API_KEY" in err
    assert db_rows(repo, "SELECT status, attempts FROM tasks WHERE id = ?", task_id) == [("pending", 0)]
