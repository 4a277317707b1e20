"""The sidecar gateway (remote-engine mode), forced on this local engine: placement, network, isolation."""

from __future__ import annotations

import json
import socket
import threading

import pytest
from tests.sandbox.gateway.gateway_support import FAKE_KEY
from tests.sandbox.gateway.sidecar_support import service_image

from sandbox.gateway.engine import (
    HOST_ALIAS,
    engine_is_remote,
    ensure_internal_network,
    network_name,
    reap_networks,
    resolve_placement,
    sidecar_upstream,
)


@pytest.mark.parametrize(
    ("docker_host", "remote"),
    [
        (None, False),
        ("", False),
        ("unix:///var/run/docker.sock", False),
        ("tcp://127.0.0.1:2375", False),
        ("tcp://localhost:2376", False),
        ("tcp://10.0.0.7:2376", True),
        ("ssh://ci@build-box.example", True),
        ("ssh://me@localhost", False),
    ],
)
def test_remote_engine_detection(docker_host, remote):
    assert engine_is_remote(docker_host) is remote
    assert resolve_placement("auto", docker_host) == ("sidecar" if remote else "socket")


def test_placement_can_be_forced_either_way():
    assert resolve_placement("sidecar", None) == "sidecar"
    assert resolve_placement("socket", "tcp://10.0.0.7:2376") == "socket"


def test_a_loopback_upstream_means_the_host_only_on_a_local_engine():
    url, hosts = sidecar_upstream("http://127.0.0.1:8000/v1", remote=False)
    assert url == f"http://{HOST_ALIAS}:8000/v1" and hosts == {HOST_ALIAS: "host-gateway"}
    assert sidecar_upstream("http://127.0.0.1:8000/v1", remote=True) == ("http://127.0.0.1:8000/v1", {})
    assert sidecar_upstream("https://api.openai.com/v1", remote=False) == ("https://api.openai.com/v1", {})


def test_the_llm_gateway_key_is_in_the_config():
    from runner.config.load import LlmConfig

    assert LlmConfig().gateway == "auto"
    assert LlmConfig(gateway="sidecar").gateway == "sidecar"
    with pytest.raises(ValueError):
        LlmConfig(gateway="tunnel")


def test_the_codex_wrapper_talks_to_the_sidecar_without_a_forwarder():
    from runner.build.codex_step import wrapper_script

    url = "http://codex-sandbox-gw-01abc:8080/v1"
    script = wrapper_script(model="gpt-5.5", socket_name=None, prompt="hi", base_url=url)
    assert "socat" not in script and f'model_providers.gw.base_url="{url}"' in script
    socket_mode = wrapper_script(model="gpt-5.5", socket_name="gateway.sock", prompt="hi")
    assert "socat" in socket_mode and "127.0.0.1:18080/v1" in socket_mode


# ----------------------------------------------------------------------------- on the engine


@pytest.mark.docker
def test_internal_network_is_idempotent_labelled_and_reaped(tmp_path):
    from sandbox.docker import labels
    from sandbox.docker.client import get_client

    client = get_client()
    name = ensure_internal_network(client, tmp_path)
    try:
        assert ensure_internal_network(client, tmp_path) == name == network_name(tmp_path)
        net = client.networks.get(name)
        assert net.attrs["Internal"] is True
        assert net.attrs["Labels"][labels.REPO_ID] == labels.repo_id(tmp_path)
        assert reap_networks(client, tmp_path) == [name]
        assert not client.networks.list(names=[name])
    finally:
        for net in client.networks.list(names=[name]):
            net.remove()


@pytest.mark.docker
def test_a_look_alike_network_with_a_route_out_is_refused(tmp_path):
    from sandbox.docker.client import get_client
    from sandbox.errors import GatewayError

    client = get_client()
    net = client.networks.create(network_name(tmp_path), driver="bridge")  # not --internal, not ours
    try:
        with pytest.raises(GatewayError, match="not our --internal network"):
            ensure_internal_network(client, tmp_path)
    finally:
        net.remove()


@pytest.mark.docker
def test_missing_service_image_is_one_clear_error(tmp_path):
    from sandbox.errors import ImageError
    from sandbox.gateway import GatewayConfig
    from sandbox.gateway.sidecar import SidecarGateway

    cfg = GatewayConfig(upstream_base_url="http://127.0.0.1:9/v1", run_dir=tmp_path / "run")
    gw = SidecarGateway(cfg, repo=tmp_path, run_id="01NOIMAGE", image="codex-sandbox/service:not-built")
    with pytest.raises(ImageError, match=r"run `make services`"):
        gw.start()


@pytest.mark.docker
def test_a_service_image_built_from_other_source_is_refused_as_stale(tmp_path):
    from sandbox.docker.client import get_client
    from sandbox.errors import ImageError
    from sandbox.docker.service_image import require_service_image

    client = get_client()
    image = client.images.get("codex-sandbox/base:latest")  # carries no source label
    image.tag("codex-sandbox/service", "stale-test")
    try:
        with pytest.raises(ImageError, match=r"stale .*run `make services`"):
            require_service_image(client, "codex-sandbox/service:stale-test")
    finally:
        client.images.remove("codex-sandbox/service:stale-test")


PROBE = """
import json, socket, sys, threading
results = {}
def probe(label, host, port):
    try:
        socket.create_connection((host, port), timeout=2).close()
        results[label] = "connected"
    except OSError as exc:
        results[label] = type(exc).__name__
targets = json.loads(sys.argv[1])
threads = [threading.Thread(target=probe, args=(k, h, p)) for k, (h, p) in targets.items()]
[t.start() for t in threads]
[t.join() for t in threads]
print("PROBES " + json.dumps(results))
"""


@pytest.fixture
def repo_network_reaped(tmp_path):
    """Whatever the test does, the per-repo network of tmp_path is gone afterwards."""
    yield
    from sandbox.docker.client import get_client

    reap_networks(get_client(), tmp_path)


@pytest.fixture
def canary_container():
    """A listener in another container on the default bridge: an 'other host' the sandbox must not reach."""
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    from sandbox.docker import labels

    canary = (
        DockerContainer(service_image(), command=["python3", "-m", "http.server", "8000"],
                        env={"PYTHONUNBUFFERED": "1"})  # so the readiness line reaches the log at once
        .with_kwargs(network="bridge", labels={labels.MANAGED: "true", labels.KIND: "test-canary"},
                     read_only=True, cap_drop=["ALL"])
        .waiting_for(LogMessageWaitStrategy("Serving HTTP on").with_startup_timeout(60))
    )
    with canary:
        yield canary.get_docker_client().bridge_ip(canary.get_container_id())


@pytest.mark.docker
@pytest.mark.timeout(180)
def test_the_codex_container_reaches_the_sidecar_and_not_the_internet_or_other_hosts(
    tmp_path, canary_container, repo_network_reaped
):
    """Measured caveat (README): the host's own listeners on the internal bridge's gateway IP stay reachable."""
    from sandbox.docker.container import RunSpec, run_container
    from sandbox.docker.client import get_client
    from sandbox.gateway import GatewayConfig
    from sandbox.gateway.sidecar import SidecarGateway
    from sandbox.docker.images import require_image
    from sandbox.scripted_model import ScriptedModelServer

    service_image()
    host_canary = socket.socket()
    host_canary.bind(("0.0.0.0", 0))
    host_canary.listen(8)
    threading.Thread(target=lambda: [host_canary.accept()[0].close() for _ in range(8)], daemon=True).start()
    client = get_client()
    with ScriptedModelServer({"chat": [{"content": "hello"}]}, host="0.0.0.0", api_key=FAKE_KEY) as model:
        cfg = GatewayConfig(
            upstream_base_url=f"http://127.0.0.1:{model.port}/v1",
            api_key=FAKE_KEY,
            run_dir=tmp_path / "run",
            cache_dir=tmp_path / "cache",
        )
        with SidecarGateway(cfg, repo=tmp_path, run_id="01ISOLATION", remote=False) as gw:
            sidecar = client.containers.get(gw.name)
            assert FAKE_KEY not in json.dumps(sidecar.attrs["Config"])  # the key went over stdin only
            assert (
                sidecar.attrs["Config"]["User"] == "1000:1000"
                and sidecar.attrs["HostConfig"]["ReadonlyRootfs"]
            )
            assert sidecar.attrs["HostConfig"]["CapDrop"] == ["ALL"]
            internal_gw = client.networks.get(gw.network).attrs["IPAM"]["Config"][0]["Gateway"]
            targets = {
                "sidecar": [gw.name, 8080],
                "internet_dns": ["8.8.8.8", 53],
                "internet_https": ["1.1.1.1", 443],
                "other_container": [canary_container, 8000],
                "host_via_internal_gateway": [internal_gw, host_canary.getsockname()[1]],
            }
            chat = (
                "import json,os,urllib.request as u\n"
                f"r=u.Request('{gw.sidecar_url}/chat/completions',data=json.dumps({{'model':'m','messages':[]}}).encode(),"
                "headers={'Authorization':'Bearer '+os.environ['TOKEN'],'Content-Type':'application/json'})\n"
                "print('CHAT '+json.loads(u.urlopen(r,timeout=10).read())['choices'][0]['message']['content'])\n"
            )
            out: list[str] = []
            result = run_container(
                RunSpec(
                    image=require_image("codex"),
                    network=gw.network,
                    env={"TOKEN": gw.run_token},
                    command=[
                        "bash",
                        "-c",
                        f"python3 -c {_q(PROBE)} {_q(json.dumps(targets))} && python3 -c {_q(chat)}",
                    ],
                ),
                on_output=out.append,
            )
            text = "".join(out)
            assert result.exit_code == 0, text
            probes = json.loads(text.split("PROBES ", 1)[1].splitlines()[0])
            assert "CHAT hello" in text  # through the sidecar, which added the key the model checked
            assert model.requests and model.requests[-1].headers.get("authorization") == f"Bearer {FAKE_KEY}"
            assert probes["sidecar"] == "connected"
            for label in ("internet_dns", "internet_https", "other_container"):
                assert probes[label] != "connected", (label, probes)
            print("host listener on the internal network's gateway IP:", probes["host_via_internal_gateway"])
            assert gw.usage().requests == 1
        assert gw.status().stopped and (tmp_path / "run" / "gateway-status.json").is_file()
        assert list((tmp_path / "cache").glob("*.json"))  # the recording came back to the host
    host_canary.close()
    from docker.errors import NotFound

    with pytest.raises(NotFound):
        client.containers.get(gw.name)
    with pytest.raises(NotFound):
        client.volumes.get(f"{gw.name}-data")
    assert reap_networks(client, tmp_path) == [gw.network]  # the per-repo network outlives runs until gc


def _q(text: str) -> str:
    import shlex

    return shlex.quote(text)


def test_source_digest_follows_the_service_image_inputs(tmp_path, monkeypatch):
    """The label an up-to-date service image carries changes with any source file it is built from."""
    import sandbox.docker.service_image as si

    root = tmp_path / "checkout"
    for rel in ("runner/a.py", "sandbox/b.py", "pyproject.toml", "images/service/Dockerfile"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(rel)
    monkeypatch.setattr(si, "ROOT", root)
    first = si.source_digest()
    assert si.source_digest() == first
    (root / "sandbox" / "__pycache__").mkdir()
    (root / "sandbox" / "__pycache__" / "b.cpython-311.pyc").write_bytes(b"\0")
    assert si.source_digest() == first  # bytecode is not source
    (root / "sandbox" / "b.py").write_text("changed")
    assert si.source_digest() != first
