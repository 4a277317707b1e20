"""The executor's pure parts: the exact Codex command line, the wrapper, event parsing and failure classes."""

from __future__ import annotations

import json
import subprocess

from runner.build.codex_step import CONTAINER_PORT, STDERR_PREFIX, _classify, _EventSink, codex_argv, wrapper_script
from sandbox.docker.container import RunResult


def test_codex_argv_has_exactly_the_protocol_flags():
    argv = codex_argv(model="gpt-5.5", prompt="do it")
    assert argv[:2] == ["codex", "exec"] and argv[-1] == "do it"
    joined = " ".join(argv)
    for flag in ("--json", "--ephemeral", "--skip-git-repo-check", "-s danger-full-access",
                 "-c approval_policy=never", "-m gpt-5.5", "-c model_provider=gw",
                 "-c model_providers.gw.name=gw",
                 f'-c model_providers.gw.base_url="http://127.0.0.1:{CONTAINER_PORT}/v1"',
                 "-c model_providers.gw.env_key=CODEX_GATEWAY_TOKEN", "-c model_providers.gw.wire_api=responses",
                 "-c model_providers.gw.request_max_retries=0", "-c model_providers.gw.stream_max_retries=0",
                 "-c analytics.enabled=false", "-c feedback.enabled=false",
                 "-c check_for_update_on_startup=false", "--disable plugins", "-C /workspace"):
        assert flag in joined, flag
    assert "-a" not in argv  # codex exec has no -a flag


def test_wrapper_starts_the_forwarder_then_codex_with_stdin_closed(tmp_path):
    prompt = "Fix it.\nCODEX_SANDBOX_PROMPT_x\n'quotes' \"double\" $HOME `id` $(id)\n"
    script = wrapper_script(model="gpt-5.5", socket_name="gateway.sock", prompt=prompt)
    assert f"socat TCP-LISTEN:{CONTAINER_PORT},bind=127.0.0.1,fork,reuseaddr UNIX-CONNECT:" in script
    assert script.index("socat") < script.index("codex exec")
    assert '"$PROMPT" </dev/null' in script and 'mkdir -p "$CODEX_HOME"' in script
    path = tmp_path / "run.sh"
    path.write_text(script)
    assert subprocess.run(["bash", "-n", str(path)], check=False).returncode == 0  # valid shell
    # the here-document gives the prompt back byte for byte: nothing in it is expanded or ends it early
    head = script[: script.index("codex exec")].rsplit("\n", 1)[0].replace('mkdir -p "$CODEX_HOME"', "")
    head = head.replace("socat ", "true ").replace("$(seq 1 100)", "")
    echo = subprocess.run(["bash", "-c", head + '\nprintf %s "$PROMPT"'], capture_output=True, text=True, check=False,
                          env={"PATH": "/usr/bin:/bin", "CODEX_HOME": str(tmp_path)})
    assert echo.stdout == prompt.rstrip("\n")


def test_an_oversized_prompt_is_refused_before_any_container():
    import pytest

    with pytest.raises(ValueError, match="over the"):
        wrapper_script(model="m", socket_name="s", prompt="x" * 200_000)


def _sink(tmp_path, *chunks: str) -> _EventSink:
    sink = _EventSink(tmp_path / "events.jsonl")
    for chunk in chunks:
        sink.feed(chunk)
    sink.close()
    return sink


def test_event_sink_splits_json_events_from_stderr_even_across_chunks(tmp_path):
    ev1 = json.dumps({"type": "item.completed", "item": {"type": "agent_message", "text": "done"}})
    ev2 = json.dumps({"type": "turn.completed", "usage": {"input_tokens": 5, "output_tokens": 2}})
    stream = f"{ev1}\n{ev2}\n{STDERR_PREFIX}warning: something\nnot json\n"
    sink = _sink(tmp_path, stream[:7], stream[7:40], stream[40:])
    assert sink.count == 2 and sink.agent_messages == ["done"]
    assert sink.usage == {"input_tokens": 5, "output_tokens": 2}
    assert sink.stderr == ["warning: something", "not json"]
    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    assert [json.loads(line)["type"] for line in lines] == ["item.completed", "turn.completed"]


def _result(**kw) -> RunResult:
    base = {"exit_code": 0, "duration_s": 1.0, "container_id": "c", "container_name": "n"}
    return RunResult(**{**base, **kw})


def test_classification_of_every_ending(tmp_path):
    done = _sink(tmp_path, json.dumps({"type": "turn.completed", "usage": {}}) + "\n")
    assert _classify(_result(), done, [], None)["outcome"] == "ok"
    assert _classify(_result(exit_code=None, timed_out=True), done, [], None)["outcome"] == "timeout"
    assert _classify(_result(exit_code=137, oom_killed=True), done, [], None)["outcome"] == "crash"
    (tmp_path / "f").mkdir()
    failed = _sink(tmp_path / "f", json.dumps({"type": "turn.failed", "error": {"message": "boom"}}) + "\n")
    out = _classify(_result(exit_code=1), failed, [], None)
    assert out["outcome"] == "model_error" and "boom" in out["error"]
    out = _classify(_result(exit_code=1), failed, [], "upstream 500 after 3 attempts")
    assert out["outcome"] == "model_error" and "upstream 500" in out["error"]
    budget = [{"type": "budget_exceeded", "reason": "run token budget exhausted (240 of 150 tokens used)"}]
    out = _classify(_result(exit_code=1), failed, budget, None)
    assert out["outcome"] == "budget_exceeded" and "240 of 150" in out["error"]
    (tmp_path / "c").mkdir()
    crashed = _sink(tmp_path / "c", f"{STDERR_PREFIX}thread 'main' panicked\n")
    out = _classify(_result(exit_code=101), crashed, [], None)
    assert out["outcome"] == "crash" and "panicked" in out["error"]
    (tmp_path / "n").mkdir()
    assert _classify(_result(), _sink(tmp_path / "n"), [], None)["outcome"] == "crash"  # exit 0, no turn
