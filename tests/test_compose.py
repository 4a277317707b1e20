"""compose.yaml: the file validates, and the demo model, gateway and metrics services answer from the host."""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "compose.yaml"
# The wheel cache of the real user (read before the autouse fixture moves HOME): no download per test run.
REAL_CACHE_HOME = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
FAKE_TOKEN = "cxs-gw-test-" + "4f1c9a7e2b6d8035"


def _compose(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess:
    from runner.ops.compose_build import compose_command

    return subprocess.run(
        [*compose_command(), "-f", str(COMPOSE_FILE), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


@pytest.mark.docker
def test_compose_file_validates_and_publishes_on_loopback_only():
    import yaml

    proc = _compose("config", env={**os.environ, "CODEX_GATEWAY_TOKEN": FAKE_TOKEN})
    assert proc.returncode == 0, proc.stderr
    services = yaml.safe_load(proc.stdout)["services"]
    assert set(services) == {"demo-model", "gateway", "metrics"}
    for name, svc in services.items():
        assert svc["build"]["context"].endswith("images/service"), name  # built, never pulled
        assert svc["image"] == "codex-sandbox/service:latest"
        for port in svc["ports"]:
            host_ip = port["host_ip"] if isinstance(port, dict) else port.split(":")[0]
            assert host_ip == "127.0.0.1", (name, port)
    assert services["gateway"]["environment"]["CODEX_LLM_BASE_URL"] == "http://demo-model:8000/v1"


def _published(project_env: dict[str, str], service: str, port: int) -> str:
    out = _compose("port", service, str(port), env=project_env, timeout=30)
    assert out.returncode == 0 and out.stdout.strip(), out.stderr
    host, _, published = out.stdout.strip().rpartition(":")
    assert host == "127.0.0.1"
    return f"http://127.0.0.1:{published}"


def _post_until_up(url: str, deadline: float, **kwargs):
    """The first request races the service's start: retry connection errors until the deadline."""
    import httpx

    while True:
        try:
            return httpx.post(url, timeout=5, **kwargs)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def _get_until_up(url: str, deadline: float):
    import httpx

    while True:
        try:
            return httpx.get(url, timeout=5)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def _seed_state(repo: Path) -> None:
    """A state store with one finished run, so the metrics show numbers that came through the mount."""
    from runner.state.models import Run
    from runner.state.store import Store

    with Store.open(repo) as store:
        store.start_run(Run(kind="build", status="running", tokens_in=1234, tokens_out=56))


def _remove_leftovers(project: str) -> None:
    from docker.errors import APIError, NotFound

    from sandbox.docker.client import get_client

    client = get_client()
    label = f"com.docker.compose.project={project}"
    for c in client.containers.list(all=True, filters={"label": label}):
        try:
            c.remove(force=True)
        except (APIError, NotFound):
            pass
    for n in client.networks.list(filters={"label": label}):
        try:
            n.remove()
        except (APIError, NotFound):
            pass


@pytest.mark.docker
@pytest.mark.timeout(300)  # a first build of the service image; cached builds make this ~30 s
def test_services_answer_through_loopback_ports(tmp_path, monkeypatch, repo):
    from runner.ops.compose_build import build_lock, prepare_context
    from sandbox.docker.client import get_client
    from sandbox.docker.images import ensure_images, latest_tag
    from sandbox.docker.service_image import SERVICE_IMAGE, SOURCE_LABEL, source_digest

    monkeypatch.setenv("XDG_CACHE_HOME", REAL_CACHE_HOME)
    from docker.errors import ImageNotFound

    try:
        get_client().images.get(latest_tag("python"))
    except ImageNotFound:
        ensure_images(["python"])
    _seed_state(repo)
    project = f"cxstest{os.getpid()}{secrets.token_hex(3)}"
    env = {
        **os.environ,
        "COMPOSE_PROJECT_NAME": project,
        "CODEX_GATEWAY_TOKEN": FAKE_TOKEN,
        "OPENAI_API_KEY": "",  # never hand a developer's real key to a test container
        "CODEX_GATEWAY_PORT": "0",  # 0: the engine picks free loopback ports
        "CODEX_DEMO_MODEL_PORT": "0",
        "CODEX_METRICS_PORT": "0",
        "CODEX_STATE_DIR": str(repo / ".codex"),
        "CODEX_UID": str(os.getuid()),
        "CODEX_GID": str(os.getgid()),
        "CODEX_SOURCE_DIGEST": source_digest(),
    }
    with build_lock():  # a parallel run must not swap the context while this build reads it
        prepare_context()
        build = _compose("build", env=env, timeout=240)
    assert build.returncode == 0, build.stderr[-2000:]
    assert get_client().images.get(SERVICE_IMAGE).labels[SOURCE_LABEL] == source_digest()
    try:
        t0 = time.monotonic()
        up = _compose("up", "-d", env=env, timeout=90)
        assert up.returncode == 0, up.stderr[-2000:]
        deadline = time.monotonic() + 30
        gateway = _published(env, "gateway", 8080)
        body = {"model": "demo", "messages": [{"role": "user", "content": "Say hello."}]}
        resp = _post_until_up(
            f"{gateway}/v1/chat/completions",
            deadline,
            json=body,
            headers={"Authorization": f"Bearer {FAKE_TOKEN}"},
        )
        assert resp.status_code == 200, resp.text
        answer = resp.json()["choices"][0]["message"]["content"]
        assert answer.startswith("OFFLINE DEMO MODEL")
        assert resp.json()["usage"]["completion_tokens"] == 20
        # the gateway, not the demo model, answered: without the token it refuses
        assert _post_until_up(f"{gateway}/v1/chat/completions", deadline, json=body).status_code == 401

        metrics = _get_until_up(f"{_published(env, 'metrics', 9464)}/metrics", deadline)
        assert metrics.status_code == 200
        assert metrics.headers["content-type"].startswith("text/plain")
        assert "# TYPE llm_tokens_used_total counter" in metrics.text
        assert 'llm_tokens_used_total{direction="input"} 1234.0' in metrics.text
        print(f"compose up + first answers: {time.monotonic() - t0:.1f} s")
    finally:
        down = _compose("down", "-v", "--remove-orphans", "--timeout", "5", env=env, timeout=60)
        _remove_leftovers(project)
        assert down.returncode == 0, down.stderr[-2000:]
    assert not get_client().containers.list(
        all=True, filters={"label": f"com.docker.compose.project={project}"}
    )
