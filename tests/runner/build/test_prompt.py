"""The task prompt: one template per task type, the spec and targets in it, error context cut to the budget."""

from __future__ import annotations

import pytest

from runner.state.models import TASK_TYPES, Task
from runner.build.prompt import estimate_tokens, prompt_hash, render_prompt, truncate_middle


@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_every_task_type_has_its_own_template(task_type):
    task = Task(type=task_type, title="Do the thing", description="Details of the thing.", target_files=["a.py"])
    prompt = render_prompt(task)
    assert "Do the thing" in prompt and "Details of the thing." in prompt and "- a.py" in prompt
    assert task.id in prompt
    others = {t: render_prompt(Task(type=t, title="Do the thing", description="Details of the thing.")) for t in TASK_TYPES}
    assert len(set(others.values())) == len(TASK_TYPES)  # the type changes the instructions


def test_target_files_say_whether_they_exist(tmp_path):
    (tmp_path / "old.py").write_text("x = 1\n")
    task = Task(title="t", target_files=["old.py", "new.py"])
    prompt = render_prompt(task, workspace=tmp_path)
    assert "- old.py (exists)" in prompt and "- new.py (new file)" in prompt


def test_error_context_appears_only_on_retries_and_is_truncated_to_the_budget():
    task = Task(title="Fix it", description="spec")
    assert "went wrong" not in render_prompt(task)
    huge = "START " + "x" * 200_000 + " THE REAL ERROR AT THE END"
    prompt = render_prompt(task, error_context=huge, budget_tokens=2000)
    assert "went wrong" in prompt and "THE REAL ERROR AT THE END" in prompt and "START" in prompt
    assert "characters cut" in prompt
    assert estimate_tokens(prompt) <= 2000


def test_the_task_s_own_error_context_is_used_when_none_is_given():
    task = Task(title="t", error_context="Attempt 1 ended with: no_change")
    assert "Attempt 1 ended with: no_change" in render_prompt(task)


def test_a_dollar_sign_in_the_spec_is_kept_verbatim():
    task = Task(title="Price", description="Set $PRICE to ${amount} and $$ stays")
    assert "Set $PRICE to ${amount} and $$ stays" in render_prompt(task)


def test_truncate_middle_keeps_head_and_tail_within_the_limit():
    text = "a" * 50 + "b" * 50
    cut = truncate_middle(text, 60)
    assert len(cut) <= 60 and cut.startswith("a") and cut.endswith("b")
    assert truncate_middle("short", 60) == "short"


def test_prompt_hash_is_stable_and_content_addressed():
    assert prompt_hash("x") == prompt_hash("x") != prompt_hash("y")
    assert len(prompt_hash("x")) == 64


def test_completed_dependencies_are_summarised_within_their_share():
    task = Task(title="Build on it")
    prompt = render_prompt(task, related=["Add the parser (files: parse.py), commit abc123"])
    assert "Done before this task" in prompt and "- Add the parser (files: parse.py), commit abc123" in prompt
    many = [f"task {i} " + "y" * 200 for i in range(500)]
    assert estimate_tokens(render_prompt(task, related=many, budget_tokens=2000)) <= 2000
