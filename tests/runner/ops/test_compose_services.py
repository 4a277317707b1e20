"""The compose services' entry points: the demo model's script and the gateway started from the environment."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from runner.ops.compose_services import DEMO_CHAT_ANSWER, compose_demo_script, gateway_config
from sandbox.gateway.config import GatewayConfig
from sandbox.scripted_model import ScriptedModelServer
from sandbox.scripted_model.script import load_script

FAKE_KEY = "sk-proj-" + "Zq3vR8tK1mW5xY7aB2cD4eF6gH9jL0nP"
FAKE_TOKEN = "cxs-gw-test-" + "9b2e7c4a1f6d3058"


def test_demo_script_is_the_bundled_one_plus_a_chat_answer_and_loops():
    from runner.ops.demo import demo_script

    script = load_script(compose_demo_script())
    assert script.loop
    assert [t.text() for t in script.chat] == [DEMO_CHAT_ANSWER]
    assert len(script.responses) == len(demo_script()["responses"])


def test_gateway_config_needs_a_token_and_defaults_to_the_demo_model(tmp_path):
    with pytest.raises(ValueError, match="CODEX_GATEWAY_TOKEN"):
        gateway_config({"CODEX_GATEWAY_TOKEN": "short"}, "0.0.0.0:8080", tmp_path)
    cfg = GatewayConfig.model_validate(
        gateway_config({"CODEX_GATEWAY_TOKEN": FAKE_TOKEN}, "0.0.0.0:8080", tmp_path)
    )
    assert cfg.upstream_base_url == "http://demo-model:8000/v1"
    assert cfg.tcp_listen == "0.0.0.0:8080"
    assert cfg.api_key.get_secret_value() == ""


def test_gateway_entry_serves_tcp_with_the_key_off_its_environment(tmp_path):
    """`python -m runner.ops.compose_services gateway`: env → config on stdin, then the gateway until SIGTERM."""
    import httpx

    with ScriptedModelServer({"chat": [{"content": "hello"}]}, api_key=FAKE_KEY) as srv:
        env = {
            **os.environ,
            "CODEX_GATEWAY_TOKEN": FAKE_TOKEN,
            "OPENAI_API_KEY": FAKE_KEY,
            "CODEX_LLM_BASE_URL": srv.base_url,
        }
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "runner.ops.compose_services",
                "gateway",
                "--listen",
                "127.0.0.1:0",
                "--run-dir",
                str(tmp_path / "run"),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            ready = json.loads(proc.stdout.readline())
            try:
                environ = Path(f"/proc/{proc.pid}/environ").read_bytes()
            except PermissionError:  # not root: the non-dumpable gateway hides it from us anyway
                environ = b""
            assert FAKE_KEY.encode() not in environ and FAKE_TOKEN.encode() not in environ
            url = f"http://{ready['tcp_address']}/v1/chat/completions"
            body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
            ok = httpx.post(url, json=body, headers={"Authorization": f"Bearer {FAKE_TOKEN}"}, timeout=5)
            assert ok.status_code == 200  # the scripted server checked the key the gateway added
            assert ok.json()["choices"][0]["message"]["content"] == "hello"
            assert httpx.post(url, json=body, timeout=5).status_code == 401
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(10) == 0
        assert FAKE_KEY.encode() not in proc.stderr.read()


def test_gateway_entry_without_a_token_is_one_line_and_exit_2():
    env = {k: v for k, v in os.environ.items() if k != "CODEX_GATEWAY_TOKEN"}
    proc = subprocess.run(
        [sys.executable, "-m", "runner.ops.compose_services", "gateway"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "gateway: CODEX_GATEWAY_TOKEN must be set to a token of at least 16 characters (clients present it)"
    ]
