"""The gateway transport on the real engine: a network-none, read-only, uid-1000 Codex container reaches
the model only through the bind-mounted socket (socat inside), and the real Codex CLI works through it."""

from __future__ import annotations

import json

import pytest
from tests.sandbox.gateway.gateway_support import FAKE_KEY, make_gateway

from sandbox.docker.container import Mount, RunSpec, run_container
from sandbox.errors import BudgetExceeded, GatewayError
from sandbox.gateway.bridge import CONTAINER_SOCKET_DIR, DEFAULT_PORT, bridge_script
from sandbox.scripted_model import ScriptedModelServer

pytestmark = pytest.mark.docker

IMAGE = "codex-sandbox/codex:latest"
SOCKET_TARGET = CONTAINER_SOCKET_DIR
PORT = DEFAULT_PORT
PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+hi\n*** End Patch"

BRIDGE = bridge_script(PORT, SOCKET_TARGET)

PROBE = """
import http.client, json, os
c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
c.request("POST", "/v1/responses", body=json.dumps({"model": "gpt-5.5", "stream": True}),
          headers={"Authorization": "Bearer " + os.environ["CODEX_GATEWAY_TOKEN"], "Content-Type": "application/json"})
r = c.getresponse()
print("STATUS", r.status)
print(r.read().decode())
c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
c.request("POST", "/v1/responses", body="{}", headers={"Content-Type": "application/json"})
print("NO_TOKEN_STATUS", c.getresponse().status)
""".replace("PORT", str(PORT))

# The Codex command line (codex-protocol.md section 1) pointed at the gateway; the run token is the "key".
CODEX = f"""
mkdir -p "$HOME/.codex"
CODEX_HOME="$HOME/.codex" codex exec --json --ephemeral --skip-git-repo-check \\
  -s danger-full-access -c approval_policy=never -m gpt-5.5 \\
  -c model_provider=gateway -c model_providers.gateway.name=gateway \\
  -c 'model_providers.gateway.base_url="http://127.0.0.1:{PORT}/v1"' \\
  -c model_providers.gateway.env_key=CODEX_GATEWAY_TOKEN \\
  -c model_providers.gateway.wire_api=responses \\
  -c model_providers.gateway.request_max_retries=0 -c model_providers.gateway.stream_max_retries=0 \\
  -c model_providers.gateway.stream_idle_timeout_ms=30000 \\
  -c analytics.enabled=false -c feedback.enabled=false -c check_for_update_on_startup=false \\
  --disable plugins -C /workspace -o /tmp/last_message.txt "Create hello.txt containing hi" </dev/null
rc=$?; echo "CODEX_EXIT=$rc"; cat /tmp/last_message.txt 2>/dev/null; exit $rc
"""


def run_in_codex_container(gw, script: str, tmp_path, name: str, workspace=None):
    log = tmp_path / f"{name}.log"
    result = run_container(
        RunSpec(
            image=IMAGE,
            command=["bash", "-c", script],
            workspace=workspace,
            env={"CODEX_GATEWAY_TOKEN": gw.run_token},
            mounts=[Mount(source=gw.socket_dir, target=SOCKET_TARGET)],
            network="none",
            log_path=log,
        )
    )
    return result, log.read_text()


def test_network_none_container_reaches_the_gateway_over_the_socket(tmp_path):
    script = {"responses": [{"message": "through the socket"}]}
    with ScriptedModelServer(script, api_key=FAKE_KEY) as srv, make_gateway(tmp_path, srv.base_url) as gw:
        probe = BRIDGE + f"id -u; env; python3 - <<'EOF'\n{PROBE}\nEOF\n"
        result, out = run_in_codex_container(gw, probe, tmp_path, "probe")
        assert result.ok, out
        assert out.splitlines()[0] == "1000"
        assert "STATUS 200" in out and "through the socket" in out and "response.completed" in out
        assert "NO_TOKEN_STATUS 401" in out
        assert FAKE_KEY not in out  # not in the container's environment, not in any answer
        assert srv.requests[0].headers["authorization"] == f"Bearer {FAKE_KEY}"
        assert gw.usage().requests == 1


def test_real_codex_cli_through_the_gateway_then_replayed_without_upstream(tmp_path):
    script = {
        "responses": [{"apply_patch": PATCH}, {"exec": "printf more >> hello.txt"}, {"message": "done"}]
    }
    cache = tmp_path / "cache"
    live_ws, replay_ws = tmp_path / "live-ws", tmp_path / "replay-ws"
    live_ws.mkdir()
    replay_ws.mkdir()
    with (
        ScriptedModelServer(script, api_key=FAKE_KEY) as srv,
        make_gateway(tmp_path / "live", srv.base_url, cache_dir=cache) as gw,
    ):
        result, out = run_in_codex_container(gw, BRIDGE + CODEX, tmp_path, "live", workspace=live_ws)
        assert result.ok, out
        assert (live_ws / "hello.txt").read_text() == "hi\nmore"
        events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        done = [e for e in events if e["type"] == "turn.completed"]
        assert done and done[0]["usage"]["input_tokens"] == 300 and out.rstrip().endswith("done")
        assert (gw.usage().requests, gw.usage().total) == (3, 360)
        assert len(srv.requests) == 3 and all(r.path == "/v1/responses" for r in srv.requests)
    assert len(list(cache.glob("*.json"))) == 3
    # replay: the upstream is gone; a fresh Codex thread (new ids, timings) gets the recorded answers
    with make_gateway(
        tmp_path / "replay", "http://127.0.0.1:9/v1", cache_dir=cache, mode="replay", api_key=""
    ) as gw:
        result, out = run_in_codex_container(gw, BRIDGE + CODEX, tmp_path, "replay", workspace=replay_ws)
        assert result.ok, out
        gw.check()
        assert gw.usage().requests == 3
    assert (replay_ws / "hello.txt").read_bytes() == (live_ws / "hello.txt").read_bytes()


@pytest.mark.parametrize(
    ("fault", "expected_error", "exc"),
    [
        ({"run_token_budget": 200}, "run token budget exhausted", BudgetExceeded),
        ({"request_timeout_s": 1.0}, "stalled mid-stream", GatewayError),
    ],
)
def test_real_codex_fails_fast_and_clearly_on_budget_and_stall(tmp_path, fault, expected_error, exc):
    stall = "request_timeout_s" in fault
    script = {
        "responses": [
            {"apply_patch": PATCH},
            {"exec": "true", "stall_after": 0 if stall else None},
            {"message": "never"},
        ]
    }
    ws = tmp_path / "ws"
    ws.mkdir()
    with (
        ScriptedModelServer(script, api_key=FAKE_KEY) as srv,
        make_gateway(tmp_path / "gw", srv.base_url, **fault) as gw,
    ):
        result, out = run_in_codex_container(gw, BRIDGE + CODEX, tmp_path, "fault", workspace=ws)
        assert result.exit_code == 1, out
        failed = [json.loads(line) for line in out.splitlines() if line.startswith('{"type":"turn.failed"')]
        assert failed and expected_error in failed[0]["error"]["message"], out
        with pytest.raises(exc, match=expected_error.split()[0]):
            gw.check()


LEAK_PROBE = """
import http.client, json, os, sys
for i in range(int(sys.argv[1])):
    c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    c.request("POST", "/v1/responses", body=json.dumps({"model": "gpt-5.5", "stream": True}),
              headers={"Authorization": "Bearer " + os.environ["CODEX_GATEWAY_TOKEN"]})
    r = c.getresponse()
    print("ANSWER", i, r.status, r.getheaders())
    print(r.read().decode("utf-8", "replace"))
""".replace("PORT", str(PORT))


def test_a_network_none_container_never_receives_a_fragment_of_the_key(tmp_path):
    from test_gateway_redaction import CASES, KEY, fragments_in

    turns = [turn for route, turn, _ in CASES.values() if route == "/responses"]
    with (
        ScriptedModelServer({"responses": turns}, api_key=KEY) as srv,
        make_gateway(tmp_path, srv.base_url, api_key=KEY) as gw,
    ):
        probe = BRIDGE + f"python3 - {len(turns)} <<'EOF'\n{LEAK_PROBE}\nEOF\n"
        result, out = run_in_codex_container(gw, probe, tmp_path, "leak")
        assert result.ok, out[-2000:]
        assert out.count("ANSWER ") == len(turns) and "[REDACTED]" in out
        assert srv.requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert fragments_in(out) == [] and KEY[-4:] not in out


def test_real_codex_naming_a_model_off_the_allow_list_fails_fast_and_says_why(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    with (
        ScriptedModelServer({"responses": [{"message": "never"}]}, api_key=FAKE_KEY) as srv,
        make_gateway(tmp_path / "gw", srv.base_url, allowed_models=["gpt-5.5"]) as gw,
    ):
        codex = CODEX.replace("-m gpt-5.5", "-m o9-pro-max")
        result, out = run_in_codex_container(gw, BRIDGE + codex, tmp_path, "model", workspace=ws)
        assert result.exit_code == 1, out
        failed = [json.loads(line) for line in out.splitlines() if line.startswith('{"type":"turn.failed"')]
        assert failed and "model 'o9-pro-max' is not allowed for this run" in failed[0]["error"]["message"]
        assert srv.requests == []
        with pytest.raises(GatewayError, match="not allowed"):
            gw.check()
        assert [e["code"] for e in gw.events() if e["type"] == "refused"] == ["model_not_allowed"]
