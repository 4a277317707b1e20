"""The scripted model server speaks the Responses SSE and Chat Completions protocols, and injects faults."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx
import pytest

from sandbox.scripted_model import ScriptedModelServer

PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+hi\n*** End Patch"


def sse_events(text: str) -> list[dict]:
    """The JSON payloads of an SSE body."""
    return [
        json.loads(line[6:])
        for line in text.splitlines()
        if line.startswith("data: ") and line != "data: [DONE]"
    ]


def test_responses_stream_tool_calls_then_message():
    script = {
        "responses": [
            {
                "apply_patch": PATCH,
                "exec": "printf hi > b.txt",
                "usage": {"input_tokens": 7, "output_tokens": 3},
            },
            {"message": "done"},
        ]
    }
    with ScriptedModelServer(script) as srv, httpx.Client(base_url=srv.base_url, timeout=5) as c:
        r1 = c.post("/responses", json={"model": "gpt-5.5", "stream": True, "input": []})
        r2 = c.post("/responses", json={"model": "gpt-5.5", "stream": True, "input": ["second"]})
        r3 = c.post("/responses", json={"model": "gpt-5.5"})
    assert r1.status_code == 200 and r1.headers["content-type"] == "text/event-stream"
    ev = sse_events(r1.text)
    assert [e["type"] for e in ev] == [
        "response.created",
        "response.output_item.done",
        "response.output_item.done",
        "response.completed",
    ]
    patch, shell = ev[1]["item"], ev[2]["item"]
    assert patch["type"] == "custom_tool_call" and patch["name"] == "apply_patch" and patch["input"] == PATCH
    assert shell["type"] == "function_call" and shell["name"] == "exec_command"
    assert json.loads(shell["arguments"]) == {"cmd": "printf hi > b.txt", "login": False}
    assert patch["call_id"] != shell["call_id"]
    usage = ev[-1]["response"]["usage"]
    assert (usage["input_tokens"], usage["output_tokens"], usage["total_tokens"]) == (7, 3, 10)
    assert "event: response.completed\n" in r1.text
    msg = sse_events(r2.text)[1]["item"]
    assert msg["role"] == "assistant" and msg["content"][0]["text"] == "done"
    assert r3.status_code == 400 and "no more responses turns" in r3.json()["error"]["message"]
    assert [r.json["input"] for r in srv.requests[:2]] == [[], ["second"]]
    assert srv.requests[0].path == "/v1/responses" and srv.requests[0].endpoint == "responses"


def test_chat_completions_with_openai_sdk_plain_streamed_and_json_schema():
    import openai

    plan = {"tasks": [{"title": "add hello", "type": "implement"}]}
    script = {
        "chat": [
            {"content": "hello there", "usage": {"input_tokens": 11, "output_tokens": 2}},
            {"json": plan},
            {"content": "x" * 150},
        ]
    }
    with ScriptedModelServer(script) as srv:
        client = openai.OpenAI(base_url=srv.base_url, api_key="sk-test-not-real", max_retries=0, timeout=5)
        first = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        structured = client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "plan"}],
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "plan", "schema": {"type": "object"}},
            },
        )
        stream = client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "s"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
    assert first.choices[0].message.content == "hello there"
    assert (first.usage.prompt_tokens, first.usage.completion_tokens) == (11, 2)
    assert json.loads(structured.choices[0].message.content) == plan
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "x" * 150
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 120
    assert srv.requests[1].json["response_format"]["type"] == "json_schema"
    assert srv.requests[0].headers["authorization"] == "Bearer sk-test-not-real"


def test_fault_status_with_retry_after_and_times():
    script = {
        "responses": [{"status": 429, "retry_after": "2", "times": 2}, {"status": 500}, {"message": "ok"}]
    }
    with ScriptedModelServer(script) as srv, httpx.Client(base_url=srv.base_url, timeout=5) as c:
        codes = [c.post("/responses", json={}) for _ in range(4)]
    assert [r.status_code for r in codes] == [429, 429, 500, 200]
    assert codes[0].headers["retry-after"] == "2" and "error" in codes[0].json()


def test_stall_mid_stream_sends_bytes_then_hangs():
    with ScriptedModelServer(
        {"responses": [{"apply_patch": PATCH, "message": "m", "stall_after": 1}]}
    ) as srv:
        got = b""
        with (
            httpx.Client(timeout=httpx.Timeout(5, read=0.5)) as c,
            c.stream("POST", srv.base_url + "/responses", json={}) as r,
            pytest.raises(httpx.ReadTimeout),
        ):
            for chunk in r.iter_raw():
                got += chunk
        t0 = time.monotonic()
    assert time.monotonic() - t0 < 2  # stop() releases the stalled handler
    assert b"custom_tool_call" in got and b"response.completed" not in got and b'"msg_1"' not in got


def test_close_without_completed_and_loop():
    script = {"responses": [{"message": "m", "close_after": 1}], "loop": True}
    with ScriptedModelServer(script) as srv, httpx.Client(timeout=5) as c:
        bodies = [c.post(srv.base_url + "/responses", json={}).text for _ in range(3)]
    assert all("output_item.done" in b and "response.completed" not in b for b in bodies)
    assert srv.remaining() == 0


def test_api_key_required_and_unknown_route():
    auth = {"Authorization": "Bearer sk-upstream-test"}
    server = ScriptedModelServer({"responses": [{"message": "m"}]}, api_key="sk-upstream-test")
    with server as srv, httpx.Client(timeout=5) as c:
        assert c.post(srv.base_url + "/responses", json={}).status_code == 401
        assert c.post(srv.base_url + "/models", headers=auth).status_code == 404
        ok = c.post(srv.base_url + "/responses", json={}, headers=auth)
    assert ok.status_code == 200


def test_runs_standalone_from_a_yaml_file(tmp_path):
    script = tmp_path / "s.yaml"
    script.write_text("responses:\n  - message: standalone\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox.scripted_model", "--script", str(script), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        url = line.strip().rsplit(" ", 1)[-1]
        assert url.startswith("http://127.0.0.1:")
        r = httpx.post(url + "/responses", json={}, timeout=5)
        assert sse_events(r.text)[1]["item"]["content"][0]["text"] == "standalone"
    finally:
        proc.terminate()
        assert proc.wait(5) == 0


def test_bad_script_file_is_one_clear_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("responses:\n  - nonsense_key: 1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "sandbox.scripted_model", "--script", str(bad)],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2 and "bad script" in proc.stderr and "Traceback" not in proc.stderr
