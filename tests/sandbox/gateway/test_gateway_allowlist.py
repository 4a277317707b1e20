"""What a request may carry: only allow-listed models, and headers without control characters or folding."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from tests.sandbox.gateway.gateway_support import client, make_gateway, raw_request
from pydantic import ValidationError

from runner.config.load import LlmConfig, load_config
from sandbox.errors import GatewayError
from sandbox.gateway.upstream import upstream_headers
from sandbox.scripted_model import ScriptedModelServer

MESSAGE = {"responses": [{"message": "ok"}]}


def test_a_model_off_the_allow_list_is_refused_with_an_audit_event(tmp_path):
    with (
        ScriptedModelServer(MESSAGE) as srv,
        make_gateway(tmp_path, srv.base_url, allowed_models=["gpt-5.5"]) as gw,
        client(gw) as c,
    ):
        other = c.post("/responses", json={"model": "o9-pro-max", "stream": True})
        assert other.status_code == 400
        error = other.json()["error"]
        assert error["code"] == "model_not_allowed" and error["status"] == 400
        assert error["message"] == (
            "codex-sandbox gateway: model 'o9-pro-max' is not allowed for this run (allowed: gpt-5.5)"
        )
        with pytest.raises(GatewayError, match="o9-pro-max"):
            gw.check()  # the run's model access failed, and says why
        assert c.post("/responses", json={"stream": True}).status_code == 400  # naming none is no way round
        assert c.post("/responses", json={"model": ["gpt-5.5"]}).status_code == 400
        assert srv.requests == []  # nothing of it reached the upstream
        ok = c.post("/responses", json={"model": "gpt-5.5", "stream": True})
        assert ok.status_code == 200 and len(srv.requests) == 1
        refused = [e for e in gw.events() if e["type"] == "refused"]
    assert [e["code"] for e in refused] == ["model_not_allowed"] * 3
    assert "o9-pro-max" in refused[0]["reason"]


def test_the_allow_list_holds_in_replay_mode_too(tmp_path):
    with (
        make_gateway(tmp_path, "http://127.0.0.1:9/v1", mode="replay", allowed_models=["gpt-5.5"]) as gw,
        client(gw) as c,
    ):
        r = c.post("/responses", json={"model": "o9-pro-max"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "model_not_allowed"


def test_the_product_pins_each_run_to_its_configured_model(tmp_path):
    assert LlmConfig().models_allowed() == ["gpt-5.5"]
    assert LlmConfig(model="o3").models_allowed() == ["o3"]
    assert LlmConfig(model="o3", allowed_models=["o3", "o4"]).models_allowed() == ["o3", "o4"]
    with pytest.raises(ValidationError, match="must include llm.model"):
        LlmConfig(model="o3", allowed_models=["o4"])
    loaded = load_config(None, environ={"CODEX_LLM_ALLOWED_MODELS": "gpt-5.5, o4"})
    assert loaded.config.llm.allowed_models == ["gpt-5.5", "o4"]
    # the builder hands the list to every run's gateway
    from runner.build.attempt import BuildEnv, TaskBuilder

    builder = TaskBuilder.__new__(TaskBuilder)
    builder.cfg = load_config(None, environ={}).config
    builder.env = BuildEnv(root=tmp_path, config=builder.cfg, api_key="sk-x")
    builder.store = SimpleNamespace(list_runs=lambda task_id: [])
    gateway = builder._gateway(
        SimpleNamespace(id="t1"), SimpleNamespace(id="r1"), SimpleNamespace(run_dir=tmp_path)
    )
    assert gateway.config.allowed_models == ["gpt-5.5"]


def request_with_header(gw, header: bytes) -> bytes:
    body = json.dumps({"model": "gpt-5.5", "stream": True}).encode()
    head = (
        b"POST /v1/responses HTTP/1.1\r\nHost: gateway\r\n"
        + f"Authorization: Bearer {gw.run_token}\r\n".encode()
        + b"Content-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n".encode()
        + header
        + b"\r\n"
    )
    return raw_request(gw, head + body)


@pytest.mark.parametrize(
    "header",
    [
        b'x-codex-turn-metadata: {"a": 1}\r\n x-injected: yes\r\n',  # obs-fold
        b"x-codex-turn-metadata: one\r\n\ttwo\r\n",  # obs-fold with a tab
        b"x-codex-window-id: a\x01b\r\n",
        b"x-codex-window-id: a\x00b\r\n",
        b"x-codex-window-id: a\x1b[31mb\r\n",
        b"x-stainless-lang: a\x7fb\r\n",
        b"session-id: a\x0bb\r\n",
        b"x-not-forwarded: a\x01b\r\n",
    ],
    ids=["fold", "fold-tab", "soh", "nul", "esc", "del", "vt", "unforwarded"],
)
@pytest.mark.slow
def test_header_values_with_control_characters_or_folding_are_refused(tmp_path, header):
    with ScriptedModelServer(MESSAGE) as srv, make_gateway(tmp_path, srv.base_url) as gw:
        answer = request_with_header(gw, header)
        assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
        assert b'"code": "bad_header"' in answer
        assert srv.requests == []
        assert [e["code"] for e in gw.events() if e["type"] == "refused"] == ["bad_header"]


@pytest.mark.slow
def test_a_tab_inside_a_header_value_is_fine_and_forwarded(tmp_path):
    with ScriptedModelServer(MESSAGE) as srv, make_gateway(tmp_path, srv.base_url) as gw:
        answer = request_with_header(gw, b"x-codex-window-id: a\tb\r\n")
        assert answer.startswith(b"HTTP/1.1 200 ")
        assert srv.requests[0].headers["x-codex-window-id"] == "a\tb"


def test_the_upstream_side_never_sends_a_bad_header_even_if_asked():
    sent = upstream_headers(
        {"x-codex-a": "one\r\n two", "x-codex-b": "ok", "x-codex-c": "a\x00b", "bad name": "x"}, "sk-real"
    )
    assert "x-codex-a" not in sent and "x-codex-c" not in sent and "bad name" not in sent
    assert sent["x-codex-b"] == "ok" and sent["authorization"] == "Bearer sk-real"
