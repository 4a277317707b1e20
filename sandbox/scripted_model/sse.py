"""Response bodies in the wire formats Codex (Responses SSE) and the planner (Chat Completions) read."""

from __future__ import annotations

import json
import time
from typing import Any

from sandbox.scripted_model.script import ChatTurn, ResponsesTurn

DEFAULT_USAGE = {"input_tokens": 100, "output_tokens": 20}


def sse_event(data: dict[str, Any]) -> bytes:
    """One Server-Sent Event named after its `type`."""
    return f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode()


def response_items(turn: ResponsesTurn, n: int) -> list[dict[str, Any]]:
    """The output items of a Responses turn, with stable ids derived from the turn number."""
    items = [dict(i) for i in turn.items]
    if turn.reasoning is not None:
        items.append(
            {
                "type": "reasoning",
                "id": f"rs_{n}",
                "summary": [{"type": "summary_text", "text": turn.reasoning}],
            }
        )
    if turn.apply_patch is not None:
        items.append(
            {
                "type": "custom_tool_call",
                "call_id": f"call_{n}_p",
                "name": "apply_patch",
                "input": turn.apply_patch,
            }
        )
    if turn.exec is not None:
        args = json.dumps({"cmd": turn.exec, "login": False})
        items.append(
            {"type": "function_call", "call_id": f"call_{n}_x", "name": "exec_command", "arguments": args}
        )
    if turn.message is not None:
        items.append(
            {
                "type": "message",
                "role": "assistant",
                "id": f"msg_{n}",
                "content": [{"type": "output_text", "text": turn.message}],
            }
        )
    return items


def responses_usage(turn: ResponsesTurn) -> dict[str, Any]:
    """A Responses usage object, filling the detail fields Codex maps."""
    u = {**DEFAULT_USAGE, **(turn.usage or {})}
    return {
        "input_tokens": u["input_tokens"],
        "input_tokens_details": {"cached_tokens": u.get("cached_tokens", 0)},
        "output_tokens": u["output_tokens"],
        "output_tokens_details": {"reasoning_tokens": u.get("reasoning_tokens", 0)},
        "total_tokens": u["input_tokens"] + u["output_tokens"],
    }


def responses_events(turn: ResponsesTurn, n: int) -> tuple[list[bytes], bytes, bytes]:
    """(created event, one event per item, completed event) for a streamed Responses turn."""
    rid = f"resp_{n}"
    created = sse_event({"type": "response.created", "response": {"id": rid}})
    items = [
        sse_event({"type": "response.output_item.done", "output_index": i, "item": item})
        for i, item in enumerate(response_items(turn, n))
    ]
    completed = sse_event(
        {"type": "response.completed", "response": {"id": rid, "usage": responses_usage(turn)}}
    )
    return [created], items, completed


def chat_usage(turn: ChatTurn) -> dict[str, int]:
    """A Chat Completions usage object."""
    u = {**DEFAULT_USAGE, **(turn.usage or {})}
    return {
        "prompt_tokens": u["input_tokens"],
        "completion_tokens": u["output_tokens"],
        "total_tokens": u["input_tokens"] + u["output_tokens"],
    }


def chat_completion(turn: ChatTurn, n: int, model: str) -> dict[str, Any]:
    """A non-streamed chat.completion object."""
    return {
        "id": f"chatcmpl-{n}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": turn.text(), "refusal": None},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": chat_usage(turn),
    }


def chat_chunks(turn: ChatTurn, n: int, model: str, include_usage: bool) -> list[bytes]:
    """The `data:` lines of a streamed chat completion, ending with [DONE]."""
    base = {
        "id": f"chatcmpl-{n}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
    }
    text = turn.text()
    pieces = [text[i : i + 64] for i in range(0, len(text), 64)] or [""]
    deltas = [{"role": "assistant", "content": ""}] + [{"content": p} for p in pieces]
    chunks = [{**base, "choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas]
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    if include_usage:
        chunks.append({**base, "choices": [], "usage": chat_usage(turn)})
    return [f"data: {json.dumps(c)}\n\n".encode() for c in chunks] + [b"data: [DONE]\n\n"]
