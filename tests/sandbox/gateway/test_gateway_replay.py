"""Record then replay: byte-identical answers with the upstream gone; keys ignore volatile request fields."""

from __future__ import annotations

import json

import pytest
from tests.sandbox.gateway.gateway_support import client, make_gateway

from sandbox.errors import GatewayError
from sandbox.gateway.cache import request_key
from sandbox.scripted_model import ScriptedModelServer

PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+hi\n*** End Patch"


def codex_like(thread: str, wall: str, step: int) -> dict:
    """A Codex-shaped Responses request whose volatile parts depend on `thread` and `wall`."""
    items = [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Create hello.txt"}]},
        {
            "type": "message",
            "role": "user",
            "content": [
                {
                    "type": "input_text",
                    "text": "<environment_context><current_date>2026-11-2"
                    + wall[-1]
                    + "</current_date></environment_context>",
                }
            ],
        },
    ]
    if step > 1:
        items += [
            {
                "type": "custom_tool_call",
                "id": f"ctc_{thread[:6]}",
                "call_id": "call_1_p",
                "name": "apply_patch",
                "input": PATCH,
            },
            {
                "type": "custom_tool_call_output",
                "call_id": "call_1_p",
                "output": f"Exit code: 0\nWall time: {wall} seconds\nOutput:\nSuccess.",
            },
        ]
    return {
        "model": "gpt-5.5",
        "stream": True,
        "prompt_cache_key": thread,
        "client_metadata": {"x-codex-installation-id": thread},
        "input": items,
    }


def test_request_key_ignores_volatile_fields_but_not_content():
    a = request_key("/v1/responses", codex_like("0193a8d0-1111-7000-8000-000000000001", "0.0012", 2))
    b = request_key("/v1/responses", codex_like("0193a8d0-2222-7000-8000-000000000002", "1.5", 2))
    assert a == b
    assert a != request_key(
        "/v1/chat/completions", codex_like("0193a8d0-1111-7000-8000-000000000001", "0.0012", 2)
    )
    assert a != request_key("/v1/responses", codex_like("0193a8d0-1111-7000-8000-000000000001", "0.0012", 1))
    changed = codex_like("0193a8d0-1111-7000-8000-000000000001", "0.0012", 2)
    changed["input"][0]["content"][0]["text"] = "Create other.txt"
    assert a != request_key("/v1/responses", changed)


def test_record_then_replay_is_byte_identical_without_upstream(tmp_path):
    script = {
        "responses": [
            {"apply_patch": PATCH, "usage": {"input_tokens": 50, "output_tokens": 7}},
            {"message": "done"},
        ],
        "chat": [{"json": {"tasks": [{"title": "t"}]}}],
    }
    live_dir, replay_dir = tmp_path / "live", tmp_path / "replay"
    cache = tmp_path / "cache"
    requests = [
        ("/responses", codex_like("0193a8d0-1111-7000-8000-00000000000a", "0.01", 1)),
        ("/responses", codex_like("0193a8d0-1111-7000-8000-00000000000a", "0.01", 2)),
        ("/chat/completions", {"model": "m", "messages": [{"role": "user", "content": "plan"}]}),
    ]
    with (
        ScriptedModelServer(script) as srv,
        make_gateway(live_dir, srv.base_url, cache_dir=cache) as gw,
        client(gw) as c,
    ):
        live = [c.post(path, json=body) for path, body in requests]
        live_usage = gw.usage()
    assert [r.status_code for r in live] == [200, 200, 200]
    assert len(list(cache.glob("*.json"))) == 3
    # a new run: other thread ids and timings, the upstream gone for good
    replayed_requests = [
        (p, codex_like("0193a8d0-9999-7000-8000-00000000000b", "7.3", i + 1)) if "responses" in p else (p, b)
        for i, (p, b) in enumerate(requests)
    ]
    with (
        make_gateway(replay_dir, srv.base_url, cache_dir=cache, mode="replay", api_key="") as gw,
        client(gw) as c,
    ):
        replayed = [c.post(path, json=body) for path, body in replayed_requests]
        assert [r.content for r in replayed] == [r.content for r in live]
        assert [r.headers["content-type"] for r in replayed] == [r.headers["content-type"] for r in live]
        assert gw.usage() == live_usage
        gw.check()
        miss = c.post("/responses", json={"model": "gpt-5.5", "input": ["never asked before"]})
        assert miss.status_code == 400 and miss.json()["error"]["code"] == "replay_miss"
        with pytest.raises(GatewayError, match="no recorded response"):
            gw.check()
    recorded = json.loads(next(cache.glob("*.json")).read_text())
    assert set(recorded) >= {"key", "route", "status", "content_type", "usage"}
