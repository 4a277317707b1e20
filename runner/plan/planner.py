"""The planner: PRD → validated task DAG through the `openai` SDK with structured output.

The JSON schema comes from the pydantic models; an answer that breaks the schema or a DAG rule is
sent back with the error, up to MAX_ATTEMPTS times. Every invalid answer is in the audit log.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from runner.errors import ExternalServiceError, InvalidInput, RunnerError
from runner.plan.versions import PlanDraft, check_draft, draft_from_tasks, kept_tasks, store_plan

if TYPE_CHECKING:
    from runner.config.load import LlmConfig
    from runner.state.models import PlanVersion
    from runner.state.store import Store

MAX_ATTEMPTS = 3

SYSTEM_PROMPT = """You are the planner of codex-sandbox. Turn the product requirements document into a \
DAG of small coding tasks, each doable by one coding agent run in an isolated checkout.
Rules:
- Give every new task a short unique id: T1, T2, ...; `dependencies` lists ids of tasks that must be \
completed first. No cycles; no dependency on an id that is not in the plan or in the kept tasks.
- `type` is one of implement, test, fix, scaffold, refactor, upgrade, patch. Start an empty project \
with one scaffold task.
- `priority`: 0 runs first among ready tasks; larger numbers later. `target_files`: repository-relative paths.
- `verification`: a shell command that proves the task is done (for example a pytest invocation), or null.
Answer with the JSON object only."""


def strict_schema(model: type) -> dict[str, Any]:
    """The model's JSON schema in the strict form structured output needs (all keys required, no extras)."""
    schema = model.model_json_schema()

    def fix(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                node["additionalProperties"] = False
                node["required"] = list(node["properties"])
            node.pop("default", None)
            for value in node.values():
                fix(value)
        elif isinstance(node, list):
            for value in node:
                fix(value)

    fix(schema)
    return schema


def response_format() -> dict[str, Any]:
    return {
        "type": "json_schema",
        "json_schema": {"name": "task_plan", "strict": True, "schema": strict_schema(PlanDraft)},
    }


def _explain(exc: Exception) -> str:
    """One short line for the model and the audit log."""
    if isinstance(exc, ValidationError):
        parts = []
        for err in exc.errors()[:5]:
            loc = ".".join(str(p) for p in err["loc"]) or "(root)"
            parts.append(f"{loc}: {err['msg']}")
        more = f" (+{exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
        return "schema: " + "; ".join(parts) + more
    if isinstance(exc, json.JSONDecodeError):
        return f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    return str(exc)


def parse_answer(content: str | None, *, known: set[str]) -> PlanDraft:
    """Parse and validate one answer; raise ValueError-like errors that `_explain` renders."""
    if not content or not content.strip():
        raise ValueError("empty answer")
    data = json.loads(content)
    draft = PlanDraft.model_validate(data)
    check_draft(draft, known=known)
    return draft


def make_client(llm: LlmConfig, environ: dict[str, str] | None = None):
    """An OpenAI client for the configured endpoint; the key comes from the env var llm.api_key_env."""
    import os

    env = os.environ if environ is None else environ
    key = env.get(llm.api_key_env)
    if not key:
        raise InvalidInput(
            f"the planner needs an API key: set ${llm.api_key_env} (config llm.api_key_env names the variable)"
        )
    from openai import OpenAI

    return OpenAI(base_url=llm.base_url, api_key=key, timeout=llm.request_timeout_s, max_retries=2)


def _ask(client, model: str, messages: list[dict[str, str]], cache=None) -> tuple[str | None, tuple[int, int]]:
    """One Chat Completions call; with a PlannerCache, record it (live) or answer from it (replay)."""
    import openai
    from openai.types.chat import ChatCompletion

    body = {"model": model, "messages": messages, "response_format": response_format()}
    # Like the gateway: live mode always asks the model (and records); replay mode only reads.
    reply = cache.load(body) if cache is not None and cache.replay else None
    if reply is None:
        if cache is not None and cache.replay:
            raise ExternalServiceError(
                "llm.mode is replay and .codex/cache has no recorded planner answer for this request"
            )
        try:
            raw = client.chat.completions.with_raw_response.create(**body)
        except openai.APIStatusError as exc:
            raise ExternalServiceError(
                f"model endpoint answered HTTP {exc.status_code}: {_short(exc.message)}"
            ) from None
        except openai.APITimeoutError:
            raise ExternalServiceError("model endpoint timed out") from None
        except openai.APIConnectionError as exc:
            raise ExternalServiceError(f"cannot reach the model endpoint: {_short(str(exc))}") from None
        try:
            reply = ChatCompletion.model_validate_json(raw.http_response.content)
        except ValueError:
            raise ExternalServiceError("model endpoint sent a body that is not a chat completion") from None
        if cache is not None:
            cache.record(body, raw.http_response.content, reply)
    usage = getattr(reply, "usage", None)
    tokens = (getattr(usage, "prompt_tokens", 0) or 0, getattr(usage, "completion_tokens", 0) or 0)
    if not reply.choices:
        return None, tokens
    message = reply.choices[0].message
    if getattr(message, "refusal", None):
        return None, tokens
    return message.content, tokens


class PlannerCache:
    """Planner exchanges in .codex/cache (the gateway's format and keys): recorded live, replayed offline."""

    ROUTE = "/v1/chat/completions"

    def __init__(self, directory: Path, *, replay: bool):
        from sandbox.gateway.cache import ExchangeCache

        self.cache = ExchangeCache(directory)
        self.replay = replay

    def _key(self, body: dict[str, Any]) -> str:
        from sandbox.gateway.cache import request_key

        return request_key(self.ROUTE, body)

    def load(self, body: dict[str, Any]):
        from openai.types.chat import ChatCompletion

        found = self.cache.load(self._key(body))
        if found is None or found[0] != 200:
            return None
        try:
            return ChatCompletion.model_validate_json(found[2])
        except ValueError:
            return None

    def record(self, body: dict[str, Any], content: bytes, reply) -> None:
        usage = reply.usage.model_dump() if getattr(reply, "usage", None) else None
        self.cache.record(self._key(body), route=self.ROUTE, status=200, content_type="application/json",
                          body=content, usage=usage)


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def generate_plan(
    store: Store,
    prd_text: str,
    *,
    llm: LlmConfig,
    prd_path: str | None = None,
    feedback: str | None = None,
    client=None,
    progress=None,
    cache: PlannerCache | None = None,
) -> PlanVersion:
    """Ask the model for a plan (or a revision with `feedback`), validate, re-prompt on errors, store it.

    `cache` defaults to .codex/cache of the store's repo, in llm.mode (live records, replay only reads).
    """
    keep = kept_tasks(store)
    known = set(keep) | {t.id for t in store.list_tasks() if t.plan_version is None and t.status != "skipped"}
    messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": "PRD:\n\n" + prd_text}]
    current = store.plan()
    if feedback is not None and current is not None:
        tasks = [t for t in store.list_tasks() if t.id in set(current.task_ids)]
        messages.append({
            "role": "user",
            "content": (
                "The current plan is below. Revise it according to the feedback. Keep the ids of tasks you "
                "keep; completed tasks are kept as they are and may be depended on by id.\n\n"
                f"Current plan:\n{json.dumps(draft_from_tasks(tasks), indent=1)}\n\nFeedback:\n{feedback}"
            ),
        })
    elif keep:
        messages.append({
            "role": "user",
            "content": "These tasks are already completed and kept; depend on them by id where useful:\n"
            + json.dumps(draft_from_tasks(list(keep.values())), indent=1),
        })
    if cache is None:
        from runner.state.store import state_dir

        cache = PlannerCache(state_dir(store.root) / "cache", replay=llm.mode == "replay")
    owned = client is None and not cache.replay
    if owned:
        client = make_client(llm)
    try:
        draft, attempt, tokens = _attempts(store, client, llm, messages, known, cache, progress)
    finally:
        if owned:
            client.close()  # no pooled connections left open to the endpoint
    return store_plan(
        store, draft, prd_text=prd_text, prd_path=prd_path, feedback=feedback, model=llm.model,
        attempts=attempt, tokens=tokens,
    )


def _attempts(store, client, llm, messages, known, cache, progress) -> tuple[PlanDraft, int, tuple[int, int]]:
    """Ask up to MAX_ATTEMPTS times, sending each error back; audit every invalid answer."""
    spent_in = spent_out = 0
    last_error = ""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        if progress:
            progress(f"planner attempt {attempt}/{MAX_ATTEMPTS} ({llm.model})")
        content, (t_in, t_out) = _ask(client, llm.model, messages, cache)
        spent_in, spent_out = spent_in + t_in, spent_out + t_out
        try:
            return parse_answer(content, known=known), attempt, (spent_in, spent_out)
        except (ValueError, ValidationError, RunnerError) as exc:
            last_error = _explain(exc)
        store.audit(
            "plan.invalid_output", actor="model",
            details={"attempt": attempt, "error": last_error, "tokens_in": t_in, "tokens_out": t_out},
        )
        messages.append({"role": "assistant", "content": content or ""})
        messages.append({
            "role": "user",
            "content": f"That answer was invalid: {last_error}\nAnswer again with the complete, corrected "
            "plan as one JSON object matching the schema.",
        })
    store.audit(
        "plan.failed", actor="model",
        details={"attempts": MAX_ATTEMPTS, "error": last_error, "tokens_in": spent_in, "tokens_out": spent_out},
    )
    raise RunnerError(f"the planner gave no valid plan in {MAX_ATTEMPTS} attempts; last error: {last_error}")


def revise_plan(
    store: Store, feedback: str, *, llm: LlmConfig, client=None, progress=None, cache: PlannerCache | None = None,
) -> PlanVersion:
    """A new plan version from the current one plus feedback; the old version is kept (superseded)."""
    if not feedback.strip():
        raise InvalidInput("revision feedback is empty")
    current = store.plan()
    if current is None:
        raise InvalidInput("there is no plan to revise; run `codex-sandbox plan generate PRD.md`")
    return generate_plan(
        store, current.prd_text, llm=llm, prd_path=current.prd_path, feedback=feedback, client=client,
        progress=progress, cache=cache,
    )


def prd_file_text(path: Path) -> str:
    """Read the PRD (kept here so the CLI imports one module)."""
    from runner.plan.versions import read_prd

    return read_prd(path)
