"""No fragment of the key gets out: an upstream echoing it whole, split across chunks, truncated or masked.

Real gateway, real HTTP, the scripted model as the upstream (its `body_chunks` send bytes exactly as
given). A fragment is any run of 6 characters of the key; the client's bytes (headers included), the
recordings, gateway-status.json, the log and the events are all searched for every one of them.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from tests.sandbox.gateway.gateway_support import client, make_gateway

from sandbox.gateway.redact import Redactor
from sandbox.scripted_model import ScriptedModelServer

# Shaped like a project key; no run of digits, so no timestamp or pid can look like a fragment.
KEY = "sk-proj-Hq3_vXk2LpR9zT-4wNcY8yBmJd6FsGaUe5KoW0iTbQ7xZrVh1nPjMcLs2DgE"
FRAGMENTS = sorted({KEY[i : i + 6] for i in range(len(KEY) - 5)})
PUBLIC = "sk-proj-"  # every project key starts so: left alone when nothing of this key follows it
MASKED_4 = f"sk-proj-{'*' * 60}{KEY[-4:]}"  # OpenAI's own shape: prefix, stars, last 4
MASKED_8 = f"sk-…{KEY[-8:]}"
GATEWAY_SOURCE = Path(__file__).resolve().parents[3] / "sandbox" / "gateway"


def fragments_in(data: bytes | str, *, public_ok: bool = False) -> list[str]:
    """Every 6-character piece of the key found in data (empty: nothing leaked)."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return [f for f in FRAGMENTS if f in text and not (public_ok and f in PUBLIC)]


def sse(event: dict, ascii: bool = True) -> str:
    return f"event: {event['type']}\ndata: {json.dumps(event, ensure_ascii=ascii)}\n\n"


def delta(text: str, ascii: bool = True) -> str:
    return sse({"type": "response.output_text.delta", "delta": text}, ascii)


COMPLETED = sse(
    {"type": "response.completed", "response": {"id": "r1", "usage": {"input_tokens": 5, "output_tokens": 1}}}
)


def error_json(message: str, **dumps) -> str:
    error = {"message": message, "type": "invalid_request_error", "code": "invalid_api_key", "param": None}
    return json.dumps({"error": error}, **dumps)


def long_line_stream() -> list[str]:
    """One SSE line of 400 KiB sent in 64 KiB chunks, the key across the point where the old gateway cut it.

    It held a line back until 256 KiB, then sent all but the last len(key) bytes, redacted on their own.
    """
    head = 'data: {"type": "response.output_text.delta", "delta": "'
    at = 5 * 65536 - len(KEY) - 30
    body = head + "A" * (at - len(head)) + KEY + "B" * (80 * 1024) + '"}\n\n' + COMPLETED
    return [body[i : i + 65536] for i in range(0, len(body), 65536)]


# (route, turn, status the client gets, the key's last 4 must not reach it either)
CASES = {
    "error-json-whole": ("/responses", {"status": 401, "body_chunks": [error_json(f"Bad key: {KEY}.")]}, 401),
    "error-json-masked-last4": ("/responses", {"status": 401, "body_chunks": [error_json(MASKED_4)]}, 401),
    "error-json-masked-last8-raw": (
        "/responses",
        {"status": 403, "body_chunks": [error_json(f"key {MASKED_8} revoked", ensure_ascii=False)]},
        403,
    ),
    "error-json-masked-last8-escaped": (
        "/responses",
        {"status": 403, "body_chunks": [error_json(f"key {MASKED_8} revoked")]},
        403,
    ),
    "error-key-at-2000-bytes": (
        "/responses",
        {"status": 400, "content_type": "text/plain", "body_chunks": ["x " * 995 + KEY + " end"]},
        400,
    ),
    "error-500-key-at-2000-bytes": (
        "/responses",
        {"status": 500, "times": 3, "content_type": "text/plain", "body_chunks": ["x " * 995 + KEY + " e"]},
        502,
    ),
    "error-500-key-at-the-retry-reason-cut": (  # a retry event kept the first 300 characters, then redacted
        "/responses",
        {"status": 500, "times": 3, "content_type": "text/plain", "body_chunks": ["x " * 130 + KEY]},
        502,
    ),
    "error-429-masked": (
        "/responses",
        {"status": 429, "times": 5, "body_chunks": [error_json(f"slow down {MASKED_4} / {MASKED_8}")]},
        429,
    ),
    "error-line-over-256-kib": (
        "/responses",
        {
            "status": 400,
            "content_type": "text/plain",
            "body_chunks": ["e" * (256 * 1024 - 20) + KEY + "e" * 99],
        },
        400,
    ),
    "error-key-across-the-read-limit": (
        "/responses",
        {"status": 400, "content_type": "text/plain", "body_chunks": ["e " * (32 * 1024 - 10) + KEY]},
        400,
    ),
    "error-split-across-chunks": (
        "/responses",
        {
            "status": 401,
            "item_delay_s": 0.05,
            "body_chunks": [error_json(f"Bad key: {KEY}.")[:60], error_json(f"Bad key: {KEY}.")[60:]],
        },
        401,
    ),
    "sse-split-across-two-chunks": (
        "/responses",
        {
            "item_delay_s": 0.05,
            "body_chunks": [delta("x")[:-4] + KEY[:25], KEY[25:] + " y" + delta("z")[-4:], COMPLETED],
        },
        200,
    ),
    "sse-truncated-and-partial": (
        "/responses",
        {"body_chunks": [delta(KEY[:-1]), delta(f"start {KEY[:14]} end {KEY[-9:]}."), COMPLETED]},
        200,
    ),
    "sse-masked-in-failed-event": (
        "/responses",
        {
            "body_chunks": [
                sse(
                    {
                        "type": "response.failed",
                        "response": {
                            "id": "r1",
                            "error": {"code": "x", "message": f"{MASKED_4}, {MASKED_8}"},
                        },
                    }
                ),
                delta(f"raw {MASKED_8} {MASKED_4}", ascii=False),
                COMPLETED,
            ]
        },
        200,
    ),
    "sse-line-over-256-kib": ("/responses", {"item_delay_s": 0.01, "body_chunks": long_line_stream()}, 200),
    "json-200-chat": (
        "/chat/completions",
        {
            "content_type": "application/json",
            "body_chunks": [
                json.dumps({"choices": [{"message": {"content": f"{KEY} {MASKED_4}"}}], "usage": {}})[:70],
                json.dumps({"choices": [{"message": {"content": f"{KEY} {MASKED_4}"}}], "usage": {}})[70:],
            ],
        },
        200,
    ),
    "response-headers-echo": (
        "/responses",
        {
            "content_type": f"text/event-stream; key={KEY}",
            "headers": {"x-request-id": KEY, "x-echo": KEY},
            "body_chunks": [delta("fine"), COMPLETED],
        },
        200,
    ),
}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.slow
def test_an_upstream_echoing_the_key_never_gets_a_fragment_out(tmp_path, name):
    route, turn, status = CASES[name]
    script = {"chat": [turn]} if route == "/chat/completions" else {"responses": [turn]}
    with (
        ScriptedModelServer(script, api_key=KEY) as srv,
        make_gateway(tmp_path, srv.base_url, api_key=KEY) as gw,
    ):
        with client(gw) as c, c.stream("POST", route, json={"model": "gpt-5.5", "stream": True}) as r:
            body = b"".join(r.iter_raw())
            head = str(r.headers.raw)
        events, last_error = gw.events(), gw.last_error()
    assert srv.requests and srv.requests[0].headers["authorization"] == f"Bearer {KEY}"  # it was in play
    assert r.status_code == status, body[:300]
    seen = head + body.decode("utf-8", "replace")
    assert fragments_in(seen) == [], "the client received a piece of the key"
    assert KEY[-4:] not in seen, "the client received the key's masked last 4"
    assert fragments_in(json.dumps(events) + str(last_error)) == []
    written = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert (tmp_path / "run" / "gateway-status.json") in written
    assert {str(p): fragments_in(data) for p, data in written.items() if fragments_in(data)} == {}
    assert not [p for p, data in written.items() if KEY[-4:].encode() in data]
    if status >= 400:  # a small error built by the gateway, never the upstream's body
        error = json.loads(body)["error"]
        assert set(error) == {"type", "code", "message", "status"} and len(error["message"]) <= 1000
        assert error["status"] == r.status_code
    if status == 200 and route == "/responses" and "failed" not in name:
        assert list((tmp_path / "cache").glob("*.json")), "the cleaned answer was recorded"


def test_the_structured_error_keeps_what_helps_and_drops_the_rest(tmp_path):
    message = (
        f"Incorrect API key provided: {MASKED_4}. You can find your API key at https://example.invalid/keys."
    )
    turn = {"status": 401, "body_chunks": [error_json(message)], "headers": {"x-internal": "secret"}}
    with (
        ScriptedModelServer({"responses": [turn]}) as srv,
        make_gateway(tmp_path, srv.base_url, api_key=KEY) as gw,
        client(gw) as c,
    ):
        r = c.post("/responses", json={"model": "gpt-5.5"})
        event = [e for e in gw.events() if e["type"] == "upstream_status"][-1]
    assert r.status_code == 401 and "x-internal" not in r.headers
    assert r.json() == {
        "error": {
            "type": "invalid_request_error",
            "code": "invalid_api_key",
            "message": "Incorrect API key provided: [REDACTED]. You can find your API key at "
            "https://example.invalid/keys.",
            "status": 401,
        }
    }
    assert event["status"] == 401 and event["reason"] == r.json()["error"]["message"]


# ----------------------------------------------------------------------------- the redactor alone


def stream_through(redactor: Redactor, data: bytes, rng: random.Random, max_chunk: int) -> bytes:
    s = redactor.stream()
    out, pos = [], 0
    while pos < len(data):
        n = rng.randint(1, max_chunk)
        out.append(s.feed(data[pos : pos + n]))
        pos += n
    out.append(s.close())
    return b"".join(out)


def test_every_fragment_is_caught_at_any_chunking():
    rng = random.Random(7)
    r = Redactor(KEY)
    noise = 'abcdefghijklmnopqrstuvwxyz ABC\n"{}:,_-*.…0123'
    for _ in range(1500):
        parts = []
        for _ in range(rng.randint(1, 5)):
            parts.append("".join(rng.choice(noise) for _ in range(rng.randint(0, 30))))
            a = rng.randrange(len(KEY) - 5)
            parts.append(
                rng.choice(
                    [
                        KEY,
                        KEY[a : rng.randint(a + 6, len(KEY))],
                        f"sk-proj-{'*' * rng.randint(1, 9)}{KEY[-rng.randint(4, 8) :]}",
                        f"sk-…{KEY[-rng.randint(4, 8) :]}",
                    ]
                )
            )
        data = "".join(parts).encode()
        out = stream_through(r, data, rng, 40)
        assert fragments_in(out, public_ok=True) == [] and KEY[-4:].encode() not in out, data
        assert out == r.bytes(data)  # streaming changes nothing but when bytes leave


def test_a_key_inside_an_endless_line_is_caught_whatever_the_cut():
    r = Redactor(KEY)
    rng = random.Random(3)
    for at in (4090, 65530, 256 * 1024 - 30):
        data = b"A" * at + KEY.encode() + b"B" * 5000
        for max_chunk in (65536, 4096, 700):
            out = stream_through(r, data, rng, max_chunk)
            assert out == b"A" * at + b"[REDACTED]" + b"B" * 5000


def test_ordinary_text_passes_untouched():
    r = Redactor(KEY)
    source = b"".join(p.read_bytes() for p in sorted(GATEWAY_SOURCE.glob("*.py")))
    assert r.bytes(source) == source
    # the public prefix alone is every project key's, not this one's
    assert r.text("keys look like sk-proj-... ; my-proj-name") == "keys look like sk-proj-... ; my-proj-name"
    assert r.text(f"x {KEY[9:14]} y") == f"x {KEY[9:14]} y"  # 5 characters: below the fragment length
    assert r.text(f"x {KEY[8:14]} y") == "x [REDACTED] y"


def test_messages_lose_anything_key_shaped_not_just_this_key():
    r = Redactor(KEY)
    other = "sk-live-AbCdEf123456GhIjKl"
    out = r.message(f"keys {other} and rk_test_9x8Y7z6W5v and ab****wxyz and Tok3nLik3StR1nGxYz99 ok")
    assert out == "keys [REDACTED] and [REDACTED] and [REDACTED] and [REDACTED] ok"
    assert (
        r.message("model gpt-4o-mini-2024-07-18 does not exist")
        == "model gpt-4o-mini-2024-07-18 does not exist"
    )
    assert len(r.message("x " * 2000)) == 500
