"""Render the Codex prompt of one task from the template of its type, within a token budget."""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

TASK_TYPES = ("implement", "test", "fix", "scaffold", "refactor", "upgrade", "patch")
CHARS_PER_TOKEN = 4  # a rough, conservative estimate for English text and code
DEFAULT_BUDGET_TOKENS = 6000
ERROR_CONTEXT_SHARE = 0.4
RELATED_SHARE = 0.15  # summaries of the completed dependencies  # at most this share of the budget goes to error context from earlier attempts


def estimate_tokens(text: str) -> int:
    """A cheap token estimate (no tokenizer dependency)."""
    return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


def truncate_middle(text: str, max_chars: int, marker: str = "\n[... {n} characters cut ...]\n") -> str:
    """Keep the head and the tail of `text` (errors tend to be at the end) within `max_chars`."""
    if len(text) <= max_chars:
        return text
    if max_chars <= 0:
        return ""
    note = marker.format(n=len(text) - max_chars)
    keep = max(max_chars - len(note), 0)
    head = keep // 3
    tail = keep - head
    return text[:head] + note + (text[-tail:] if tail else "")


def _template(name: str) -> Template:
    text = resources.files("runner").joinpath("templates", f"{name}.md").read_text(encoding="utf-8")
    return Template(text)


def _target_lines(target_files: list[str], workspace: Path | None) -> str:
    if not target_files:
        return "No target files were named; choose the files the task needs."
    lines = []
    for name in target_files:
        state = ""
        if workspace is not None:
            state = " (exists)" if (workspace / name).exists() else " (new file)"
        lines.append(f"- {name}{state}")
    return "Target files:\n" + "\n".join(lines)


def render_prompt(
    task: Any,
    *,
    workspace: Path | None = None,
    error_context: str | None = None,
    related: list[str] | None = None,
    budget_tokens: int = DEFAULT_BUDGET_TOKENS,
) -> str:
    """The prompt for `task` (a runner.state.models.Task); error context from earlier attempts is truncated to fit.

    `related` are one-line summaries of the completed tasks this one depends on.
    """
    task_type = getattr(task, "type", "implement") or "implement"
    if task_type not in TASK_TYPES:
        task_type = "implement"
    budget_chars = max(budget_tokens, 256) * CHARS_PER_TOKEN
    description = (getattr(task, "description", "") or "").strip() or getattr(task, "title", "")
    # the spec itself may take at most half the budget; beyond that the model gets the head and tail
    description = truncate_middle(description, budget_chars // 2)
    error_context = error_context if error_context is not None else getattr(task, "error_context", None)
    err_block = ""
    if error_context and error_context.strip():
        err_chars = int(budget_chars * ERROR_CONTEXT_SHARE)
        err_block = (
            "\n## What went wrong last time\n\nAn earlier attempt at this task failed. Fix this:\n\n```\n"
            + truncate_middle(error_context.strip(), err_chars)
            + "\n```\n"
        )
    related_block = ""
    if related:
        lines = "\n".join(f"- {line}" for line in related)
        related_block = "\n## Done before this task\n\n" + truncate_middle(lines, int(budget_chars * RELATED_SHARE)) + "\n"
    verification = getattr(task, "verification", None)
    ver_block = f"- The task is done when this passes: {verification}\n" if verification else ""
    common = _template("_common").safe_substitute(
        task_id=getattr(task, "id", "?"),
        title=getattr(task, "title", ""),
        description=description,
        target_files=_target_lines(list(getattr(task, "target_files", []) or []), workspace) + related_block,
        verification=ver_block,
        error_context=err_block,
    )
    prompt = _template(task_type).safe_substitute(common=common).strip() + "\n"
    return truncate_middle(prompt, budget_chars)


def prompt_hash(prompt: str) -> str:
    """sha256 of the rendered prompt, as recorded in the run manifest."""
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()
