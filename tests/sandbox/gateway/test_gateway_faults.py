"""Gateway fault handling: retries per the seed's table, timeouts, mid-stream stalls, token budgets."""

from __future__ import annotations

import json
import time

import pytest
from tests.sandbox.gateway.gateway_support import client, make_gateway

from sandbox.errors import BudgetExceeded, GatewayError
from sandbox.scripted_model import ScriptedModelServer

PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+hi\n*** End Patch"


def retries(gw) -> list[dict]:
    return [e for e in gw.events() if e["type"] == "retry"]


@pytest.mark.slow
def test_429_twice_then_success_honours_retry_after(tmp_path):
    script = {"responses": [{"status": 429, "retry_after": "1"}, {"status": 429}, {"message": "ok"}]}
    with ScriptedModelServer(script) as srv, make_gateway(tmp_path, srv.base_url) as gw, client(gw) as c:
        t0 = time.monotonic()
        r = c.post("/responses", json={"stream": True})
        elapsed = time.monotonic() - t0
        assert r.status_code == 200 and '"ok"' in r.text
        assert len(srv.requests) == 3
        got = retries(gw)
        assert [(e["kind"], e["status"], e["attempt"]) for e in got] == [
            ("rate_limit", 429, 1),
            ("rate_limit", 429, 2),
        ]
        assert got[0]["wait_s"] == 1.0 and got[1]["wait_s"] < 0.5  # Retry-After first, backoff second
        assert elapsed >= 1.0
        gw.check()
        assert gw.usage().requests == 1


def test_429_gives_up_after_5_attempts(tmp_path):
    with (
        ScriptedModelServer({"responses": [{"status": 429, "times": 9}]}) as srv,
        make_gateway(tmp_path, srv.base_url) as gw,
        client(gw) as c,
    ):
        r = c.post("/responses", json={"stream": True})
        assert r.status_code == 429 and "after 5 attempts" in r.json()["error"]["message"]
        assert len(srv.requests) == 5 and len(retries(gw)) == 4


def test_500_every_time_fails_after_3_attempts_with_a_clear_error(tmp_path):
    with (
        ScriptedModelServer({"responses": [{"status": 500, "times": 9}]}) as srv,
        make_gateway(tmp_path, srv.base_url) as gw,
        client(gw) as c,
    ):
        r = c.post("/responses", json={"stream": True})
        assert r.status_code == 502
        message = r.json()["error"]["message"]
        assert "upstream answered 500" in message and "after 3 attempts" in message
        assert len(srv.requests) == 3
        assert [e["kind"] for e in retries(gw)] == ["api_error", "api_error"]
        assert any(e["type"] == "upstream_failed" and e["attempts"] == 3 for e in gw.events())
        with pytest.raises(GatewayError, match="500"):
            gw.check()


def test_400_is_passed_through_without_retry(tmp_path):
    script = {"responses": [{"status": 400, "error": "bad input"}, {"message": "never"}]}
    with ScriptedModelServer(script) as srv, make_gateway(tmp_path, srv.base_url) as gw, client(gw) as c:
        r = c.post("/responses", json={"stream": True})
        assert r.status_code == 400 and r.json()["error"]["message"] == "bad input"
        assert len(srv.requests) == 1 and retries(gw) == []


@pytest.mark.slow
def test_timeout_before_headers_is_retried_twice(tmp_path):
    script = {"responses": [{"message": "late", "delay_s": 3, "times": 3}]}
    with (
        ScriptedModelServer(script) as srv,
        make_gateway(tmp_path, srv.base_url, request_timeout_s=0.5) as gw,
        client(gw) as c,
    ):
        t0 = time.monotonic()
        r = c.post("/responses", json={"stream": True})
        assert r.status_code == 504 and "after 2 attempts" in r.json()["error"]["message"]
        assert time.monotonic() - t0 < 3
        assert len(srv.requests) == 2 and [e["kind"] for e in retries(gw)] == ["timeout"]


@pytest.mark.slow
def test_silent_mid_stream_ends_with_a_clear_error_event_and_no_hang(tmp_path):
    script = {"responses": [{"apply_patch": PATCH, "message": "never sent", "stall_after": 1}]}
    with (
        ScriptedModelServer(script) as srv,
        make_gateway(tmp_path, srv.base_url, request_timeout_s=1.0) as gw,
        client(gw) as c,
    ):
        t0 = time.monotonic()
        r = c.post("/responses", json={"stream": True})
        assert time.monotonic() - t0 < 4
        assert r.status_code == 200  # headers had gone out: the error travels in the stream
        events = [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: ")]
        assert [e["type"] for e in events] == [
            "response.created",
            "response.output_item.done",
            "response.failed",
        ]
        error = events[-1]["response"]["error"]
        assert error["code"] == "upstream_stream_timeout" and "stalled mid-stream" in error["message"]
        assert len(srv.requests) == 1  # bytes had reached the client: no retry
        with pytest.raises(GatewayError, match="stalled"):
            gw.check()
        assert not list((tmp_path / "cache").glob("*.json"))  # an incomplete exchange is never recorded


def test_stream_closed_without_completion_is_not_recorded(tmp_path):
    with (
        ScriptedModelServer({"responses": [{"message": "m", "close_after": 1}]}) as srv,
        make_gateway(tmp_path, srv.base_url) as gw,
        client(gw) as c,
    ):
        r = c.post("/responses", json={"stream": True})
        assert r.status_code == 200 and "response.completed" not in r.text
        assert not list((tmp_path / "cache").glob("*.json"))


def test_run_budget_exceeded_refuses_further_requests(tmp_path):
    script = {
        "responses": [{"message": "m", "usage": {"input_tokens": 100, "output_tokens": 20}}],
        "loop": True,
    }
    with (
        ScriptedModelServer(script) as srv,
        make_gateway(tmp_path, srv.base_url, run_token_budget=200) as gw,
        client(gw) as c,
    ):
        assert c.post("/responses", json={"stream": True, "n": 1}).status_code == 200
        gw.check()
        assert c.post("/responses", json={"stream": True, "n": 2}).status_code == 200  # 240 >= 200: now spent
        assert gw.usage().budget_exceeded
        refused = c.post("/responses", json={"stream": True, "n": 3})
        assert refused.status_code == 400
        err = refused.json()["error"]
        assert err["code"] == "budget_exceeded" and "run token budget exhausted (240 of 200" in err["message"]
        assert len(srv.requests) == 2
        assert gw.usage().total == 240 and gw.usage().requests == 2
        with pytest.raises(BudgetExceeded, match="run token budget"):
            gw.check()
    with pytest.raises(BudgetExceeded):  # still visible after the gateway stopped
        gw.check()
    assert gw.usage().total == 240


def test_task_budget_already_spent_refuses_the_first_request(tmp_path):
    with (
        ScriptedModelServer({"responses": [{"message": "m"}]}) as srv,
        make_gateway(tmp_path, srv.base_url, task_tokens_used=5000, task_token_budget=5000) as gw,
        client(gw) as c,
    ):
        r = c.post("/responses", json={"stream": True})
        assert r.status_code == 400 and "task token budget exhausted (5000 of 5000" in r.text
        assert srv.requests == []
        with pytest.raises(BudgetExceeded, match="task token budget"):
            gw.check()


def test_chat_completions_through_the_gateway_count_tokens(tmp_path):
    import httpx
    import openai

    script = {
        "chat": [{"json": {"tasks": []}, "usage": {"input_tokens": 30, "output_tokens": 5}}, {"content": "s"}]
    }
    with ScriptedModelServer(script) as srv, make_gateway(tmp_path, srv.base_url) as gw:
        http = httpx.Client(transport=httpx.HTTPTransport(uds=str(gw.socket_path)))
        sdk = openai.OpenAI(
            base_url="http://gateway/v1", api_key=gw.run_token, http_client=http, max_retries=0
        )
        plain = sdk.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "plan"}],
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "p", "schema": {"type": "object"}},
            },
        )
        chunks = list(
            sdk.chat.completions.create(
                model="m",
                messages=[{"role": "user", "content": "s"}],
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        assert json.loads(plain.choices[0].message.content) == {"tasks": []}
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "s"
        usage = gw.usage()
        assert (usage.input_tokens, usage.output_tokens, usage.requests) == (130, 25, 2)


@pytest.mark.slow
def test_streams_unbuffered(tmp_path):
    script = {"responses": [{"apply_patch": PATCH, "message": "m", "item_delay_s": 0.4}]}
    with ScriptedModelServer(script) as srv, make_gateway(tmp_path, srv.base_url) as gw, client(gw) as c:
        arrivals = []
        t0 = time.monotonic()
        with c.stream("POST", "/responses", json={"stream": True}) as r:
            for line in r.iter_lines():
                if line.startswith("data: "):
                    arrivals.append((json.loads(line[6:])["type"], time.monotonic() - t0))
    kinds = [k for k, _ in arrivals]
    assert kinds == [
        "response.created",
        "response.output_item.done",
        "response.output_item.done",
        "response.completed",
    ]
    total = arrivals[-1][1]
    assert total >= 1.2
    assert arrivals[1][1] < total - 0.6  # the first item came while the rest was still being generated


@pytest.mark.slow
def test_client_that_hangs_up_mid_stream_still_pays_for_the_tokens(tmp_path):
    script = {
        "responses": [
            {
                "apply_patch": PATCH,
                "message": "m",
                "item_delay_s": 0.3,
                "usage": {"input_tokens": 70, "output_tokens": 9},
            }
        ]
    }
    with ScriptedModelServer(script) as srv, make_gateway(tmp_path, srv.base_url) as gw:
        with client(gw) as c, c.stream("POST", "/responses", json={"stream": True}) as r:
            next(r.iter_raw())  # the first bytes, then hang up
        deadline = time.monotonic() + 5
        while gw.usage().requests == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (gw.usage().input_tokens, gw.usage().output_tokens) == (70, 9)
        assert any(e["type"] == "client_disconnected" for e in gw.events())


def test_streamed_chat_always_reports_usage_and_models_can_be_pinned(tmp_path):
    script = {"chat": [{"content": "hello", "usage": {"input_tokens": 12, "output_tokens": 3}}]}
    with (
        ScriptedModelServer(script) as srv,
        make_gateway(tmp_path, srv.base_url, allowed_models=["gpt-5.5"]) as gw,
        client(gw) as c,
    ):
        other = c.post("/chat/completions", json={"model": "o9-pro-max", "stream": True, "messages": []})
        assert other.status_code == 400 and other.json()["error"]["code"] == "model_not_allowed"
        r = c.post("/chat/completions", json={"model": "gpt-5.5", "stream": True, "messages": []})
        assert r.status_code == 200 and "hello" in r.text
        assert srv.requests[0].json["stream_options"] == {"include_usage": True}  # added by the gateway
        assert (gw.usage().input_tokens, gw.usage().output_tokens) == (12, 3)
