"""Gateway security: the run token, the pinned upstream, the allow-list, key handling and redaction."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from tests.sandbox.gateway.gateway_support import FAKE_KEY, client, files_containing, make_gateway, raw_request

from sandbox.errors import GatewayError
from sandbox.scripted_model import ScriptedModelServer

MESSAGE = {"responses": [{"message": "done"}], "loop": True}


def test_forwards_with_the_real_key_and_strips_client_credentials(tmp_path):
    with ScriptedModelServer(MESSAGE, api_key=FAKE_KEY) as srv, make_gateway(tmp_path, srv.base_url) as gw:
        with client(gw) as c:
            r = c.post(
                "/responses",
                json={"model": "gpt-5.5", "stream": True},
                headers={
                    "Host": "evil.example",
                    "Cookie": "a=b",
                    "X-Api-Key": "client-key",
                    "Originator": "codex_exec",
                },
            )
        assert r.status_code == 200 and r.headers["content-type"] == "text/event-stream"
        assert '"done"' in r.text and "response.completed" in r.text
        seen = srv.requests[0].headers
        assert seen["authorization"] == f"Bearer {FAKE_KEY}"  # the real key, not the run token
        assert seen["host"] == f"127.0.0.1:{srv.port}"  # the client's Host header never picks the upstream
        assert "cookie" not in seen and "x-api-key" not in seen
        assert seen["originator"] == "codex_exec"
        assert gw.run_token not in json.dumps(seen)
        assert FAKE_KEY not in r.text and FAKE_KEY not in str(r.headers)
        assert gw.usage().requests == 1 and gw.usage().total == 120


@pytest.mark.parametrize("token", [None, "wrong-token", "raw:Basic RUN", "raw:Bearer RUNx", "raw:bearer RUN"])
@pytest.mark.slow
def test_refuses_requests_without_the_run_token(tmp_path, token):
    with ScriptedModelServer(MESSAGE) as srv, make_gateway(tmp_path, srv.base_url) as gw:
        with client(gw, token=token) as c:
            r = c.post("/responses", json={"stream": True})
        assert r.status_code == 401 and "run token" in r.json()["error"]["message"]
        assert srv.requests == []
        assert any(e["type"] == "refused" and e["status"] == 401 for e in gw.events())
        gw.check()  # a refused intruder does not fail the run


OFF_LIST = [
    ("POST", "/v1/models", 404),
    ("GET", "/v1/models", 404),
    ("POST", "/v1/responses/../models", 404),
    ("POST", "/v1/responses/", 404),
    ("POST", "/v1/files", 404),
    ("POST", "/responses", 404),
    ("POST", "/V1/RESPONSES", 404),
    ("POST", "/v1/%72esponses", 404),
    ("GET", "/v1/responses", 405),
    ("PUT", "/v1/responses", 405),
    ("DELETE", "/v1/chat/completions", 405),
    ("POST", "/v1/responses?api-version=1", 400),
    ("POST", "//evil.example/v1/responses", 404),  # http.server folds '//' to '/': still off the list
]
FOREIGN_TARGETS = [
    "http://evil.example/v1/responses",
    "http://127.0.0.1:1/v1/responses",
    "https://api.openai.com/v1/responses",
    "evil.example:443",
]


def _raw(gw, method: str, target: str, host: str = "gateway") -> bytes:
    return (
        f"{method} {target} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {gw.run_token}\r\n"
        "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
    ).encode()


def test_refuses_paths_and_methods_off_the_allow_list(tmp_path):
    with ScriptedModelServer(MESSAGE) as srv, make_gateway(tmp_path, srv.base_url) as gw:
        for method, path, status in OFF_LIST:
            answer = raw_request(gw, _raw(gw, method, path))
            assert answer.startswith(f"HTTP/1.1 {status} ".encode()), (method, path, answer[:200])
        assert srv.requests == []
        refused = [e for e in gw.events() if e["type"] == "refused"]
        assert len(refused) == len(OFF_LIST)


def test_refuses_absolute_url_and_authority_request_targets(tmp_path):
    with ScriptedModelServer(MESSAGE) as srv, make_gateway(tmp_path, srv.base_url) as gw:
        for target in FOREIGN_TARGETS:
            for method in ("POST", "CONNECT"):
                answer = raw_request(gw, _raw(gw, method, target, host="evil.example"))
                assert answer.startswith(b"HTTP/1.1 400 "), (method, target, answer[:200])
                assert b"origin-form" in answer
        assert srv.requests == []


def test_key_is_redacted_from_error_bodies_streams_recordings_and_logs(tmp_path):
    script = {
        "responses": [
            {"status": 400, "error": f"Incorrect API key provided: {FAKE_KEY}"},
            {"message": f"echo {FAKE_KEY} back"},
        ]
    }
    with ScriptedModelServer(script) as srv, make_gateway(tmp_path, srv.base_url) as gw:
        with client(gw) as c:
            bad = c.post("/responses", json={"stream": True, "n": 1})
            good = c.post("/responses", json={"stream": True, "n": 2})
        assert bad.status_code == 400 and "[REDACTED]" in bad.text and FAKE_KEY not in bad.text
        assert good.status_code == 200 and "echo [REDACTED] back" in good.text and FAKE_KEY not in good.text
        assert gw.last_error() is None  # the later success cleared the failed request
        events = json.dumps(gw.events())
        pid = gw.pid
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        status = gw.status()
    assert FAKE_KEY.encode() not in environ  # the key came over a pipe, not the environment
    assert status is not None and status.undumpable
    assert FAKE_KEY not in events
    assert list((tmp_path / "cache").glob("*.json"))  # the successful exchange was recorded ...
    assert files_containing(tmp_path, FAKE_KEY) == []  # ... and nothing under run/ or cache/ holds the key
    assert "POST /v1/responses -> 400" in (tmp_path / "run" / "gateway.log").read_text()


def test_key_never_in_the_child_environment_even_if_the_parent_has_it(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    with ScriptedModelServer(MESSAGE) as srv, make_gateway(tmp_path, srv.base_url) as gw:
        environ = Path(f"/proc/{gw.pid}/environ").read_bytes()
    assert FAKE_KEY.encode() not in environ and b"OPENAI_API_KEY" not in environ


def test_chunked_request_bodies_and_keep_alive(tmp_path):
    with ScriptedModelServer(MESSAGE) as srv, make_gateway(tmp_path, srv.base_url) as gw, client(gw) as c:
        for _ in range(3):
            r = c.post(
                "/responses",
                content=iter([b'{"stream":', b" true}"]),
                headers={"Content-Type": "application/json"},
            )
            assert r.status_code == 200 and "response.completed" in r.text
        assert [q.json for q in srv.requests] == [{"stream": True}] * 3


def test_bad_body_is_refused(tmp_path):
    with ScriptedModelServer(MESSAGE) as srv, make_gateway(tmp_path, srv.base_url) as gw, client(gw) as c:
        assert c.post("/responses", content=b"not json").status_code == 400
        assert c.post("/responses", content=b"[1, 2]").status_code == 400
        assert srv.requests == []


def test_socket_dir_holds_only_the_socket_and_is_removed(tmp_path):
    with ScriptedModelServer(MESSAGE) as srv, make_gateway(tmp_path, srv.base_url) as gw:
        sock_dir = gw.socket_dir
        assert sorted(os.listdir(sock_dir)) == ["gateway.sock"]
        assert oct(os.stat(gw.socket_path).st_mode & 0o777) == "0o666"
    assert not sock_dir.exists()


def test_tcp_listener_for_the_sidecar_mode_enforces_the_same_rules(tmp_path):
    import httpx

    with (
        ScriptedModelServer(MESSAGE) as srv,
        make_gateway(tmp_path, srv.base_url, tcp_listen="127.0.0.1:0") as gw,
    ):
        base = f"http://{gw.tcp_address}/v1"
        assert httpx.post(base + "/responses", json={}, timeout=5).status_code == 401
        ok = httpx.post(
            base + "/responses", json={}, headers={"Authorization": f"Bearer {gw.run_token}"}, timeout=5
        )
        assert ok.status_code == 200 and "response.completed" in ok.text


def test_replay_without_cache_dir_and_dead_upstream_are_clear_errors(tmp_path):
    with pytest.raises(GatewayError, match="cache directory"):
        make_gateway(tmp_path, "http://127.0.0.1:9/v1", mode="replay", cache_dir=None).__enter__()
    with make_gateway(tmp_path, "http://127.0.0.1:9/v1") as gw, client(gw) as c:
        r = c.post("/responses", json={"stream": True})
        assert r.status_code == 502 and "after 3 attempts" in r.json()["error"]["message"]
        with pytest.raises(GatewayError, match="unreachable"):
            gw.check()


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 and its key."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def test_https_upstream_is_verified_and_streams(tmp_path, monkeypatch):
    import ssl

    cert, key = _self_signed(tmp_path)
    with ScriptedModelServer(MESSAGE, api_key=FAKE_KEY) as srv:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        srv._server.socket = ctx.wrap_socket(
            srv._server.socket, server_side=True
        )  # TLS in front of the script
        https_url = srv.base_url.replace("http://", "https://")
        with make_gateway(tmp_path / "untrusted", https_url) as gw, client(gw) as c:
            r = c.post("/responses", json={"stream": True})
            assert r.status_code == 502 and "SSL" in r.json()["error"]["message"]  # unknown CA: refused
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # now trusted, as a corporate CA would be
        with make_gateway(tmp_path / "trusted", https_url) as gw, client(gw) as c:
            r = c.post("/responses", json={"stream": True})
            assert r.status_code == 200 and "response.completed" in r.text
        assert srv.requests[-1].headers["authorization"] == f"Bearer {FAKE_KEY}"


def test_upstream_on_the_docker_bridge_address_is_reachable(tmp_path):
    import subprocess

    out = subprocess.run(
        ["ip", "-4", "-o", "addr", "show", "docker0"], capture_output=True, text=True, check=False
    )
    if "inet " not in out.stdout:
        pytest.skip("no docker0 bridge on this host")
    bridge_ip = out.stdout.split("inet ", 1)[1].split("/", 1)[0]
    with (
        ScriptedModelServer(MESSAGE, host=bridge_ip) as srv,
        make_gateway(tmp_path, srv.base_url) as gw,
        client(gw) as c,
    ):
        assert c.post("/responses", json={"stream": True}).status_code == 200


def test_standalone_sidecar_mode_serves_tcp_until_signalled(tmp_path):
    """`python -m sandbox.gateway --until-signal`: config (with the key) on stdin, then TCP until SIGTERM."""
    import signal
    import subprocess
    import sys

    import httpx

    with ScriptedModelServer(MESSAGE, api_key=FAKE_KEY) as srv:
        config = {
            "upstream_base_url": srv.base_url,
            "api_key": FAKE_KEY,
            "run_dir": str(tmp_path / "run"),
            "run_token": "sidecar-token-0123456789",
            "tcp_listen": "127.0.0.1:0",
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "sandbox.gateway", "--until-signal"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            proc.stdin.write(json.dumps(config).encode() + b"\n")
            proc.stdin.close()  # a sidecar's stdin ends after the config; it must keep serving
            ready = json.loads(proc.stdout.readline())
            base = f"http://{ready['tcp_address']}/v1"
            headers = {"Authorization": "Bearer sidecar-token-0123456789"}
            assert httpx.post(base + "/responses", json={}, headers=headers, timeout=5).status_code == 200
            assert httpx.post(base + "/models", json={}, headers=headers, timeout=5).status_code == 404
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(10) == 0
        status = json.loads((tmp_path / "run" / "gateway-status.json").read_text())
        assert status["stopped"] and status["usage"]["requests"] == 1
        assert FAKE_KEY.encode() not in proc.stderr.read()
