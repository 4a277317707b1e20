"""The script a ScriptedModelServer answers from: turns per endpoint, each a reply or a fault."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Turn(BaseModel):
    """Fields every turn may carry: usage and the fault to inject instead of (or while) answering."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    usage: dict[str, int] | None = Field(
        None, description="Usage to report (defaults are small fixed numbers)."
    )
    status: int | None = Field(None, description="Answer with this HTTP status and an error body instead.")
    retry_after: str | None = Field(None, description="Retry-After header sent with `status`.")
    error: str | None = Field(None, description="Error message in the body sent with `status`.")
    delay_s: float = Field(0.0, ge=0, description="Sleep this long before sending the response headers.")
    stall_after: int | None = Field(
        None, ge=0, description="Send this many output items, then hang without closing (mid-stream stall)."
    )
    stall_s: float | None = Field(None, gt=0, description="How long a stall lasts (default: until shutdown).")
    close_after: int | None = Field(
        None,
        ge=0,
        description="Send this many output items, then end the stream without the completion event.",
    )
    item_delay_s: float = Field(0.0, ge=0, description="Pause before each streamed item (slow generation).")
    body_chunks: list[str] | None = Field(
        None,
        description="Send exactly these strings as the body, one HTTP chunk each (`item_delay_s` apart), "
        "with `status` (default 200), instead of a generated answer: an upstream that misbehaves.",
    )
    content_type: str = Field("text/event-stream", description="Content-Type of a `body_chunks` answer.")
    headers: dict[str, str] = Field(
        default_factory=dict, description="Extra headers of a `body_chunks` answer."
    )
    times: int = Field(1, ge=1, description="Repeat this turn for that many requests.")


class ResponsesTurn(_Turn):
    """One answer to `POST /v1/responses` (what Codex calls)."""

    items: list[dict[str, Any]] = Field(default_factory=list, description="Raw output items, sent first.")
    reasoning: str | None = Field(None, description="A reasoning item with this summary text.")
    apply_patch: str | None = Field(None, description="A custom_tool_call to apply_patch with this patch.")
    exec: str | None = Field(None, description="A function_call to exec_command running this shell command.")
    message: str | None = Field(None, description="A final assistant message with this text.")


class ChatTurn(_Turn):
    """One answer to `POST /v1/chat/completions` (what the planner calls)."""

    content: str | None = Field(None, description="The assistant message content.")
    json_content: Any = Field(None, alias="json", description="Content given as data; sent as its JSON text.")

    def text(self) -> str:
        """The message content this turn answers with."""
        if self.json_content is not None:
            return json.dumps(self.json_content)
        return self.content or ""


class Script(BaseModel):
    """Turns consumed in order per endpoint; `loop` starts over when a list runs out."""

    model_config = ConfigDict(extra="forbid")

    responses: list[ResponsesTurn] = Field(default_factory=list, description="Turns for the Responses API.")
    chat: list[ChatTurn] = Field(default_factory=list, description="Turns for Chat Completions.")
    loop: bool = Field(False, description="Start a list over when it runs out instead of answering 400.")

    def expanded(self, endpoint: str) -> list[_Turn]:
        """The endpoint's turns with `times` unrolled."""
        turns = self.responses if endpoint == "responses" else self.chat
        return [t for t in turns for _ in range(t.times)]


def load_script(source: dict | list | str | Path | Script) -> Script:
    """A Script from a dict, a bare list of Responses turns, or a YAML/JSON file."""
    if isinstance(source, Script):
        return source
    if isinstance(source, (str, Path)):
        import yaml  # JSON is YAML, so one loader reads both

        source = yaml.safe_load(Path(source).read_text())
    if isinstance(source, list):
        source = {"responses": source}
    return Script.model_validate(source or {})
