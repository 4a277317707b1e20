"""The gateway as a sidecar container, for a remote engine where a host Unix socket cannot be mounted.

The sidecar runs `python -m sandbox.gateway --until-signal` from the service image, hardened like a
sandbox (non-root, read-only root, cap_drop ALL, no-new-privileges, seccomp, limits). Its config (with the
key) goes over the attached stdin only, never env or files. It sits on the repo's `--internal` network,
where the Codex container is its only peer, and on a network that reaches the upstream. Its status file
and the exchange cache live in a per-run Docker volume, read back with the archive API, so nothing
depends on host paths being visible to the engine. Same interface as `Gateway`.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
from pathlib import Path

from sandbox.docker import labels as lbl
from sandbox.errors import GatewayError
from sandbox.gateway.config import GatewayConfig, GatewayStatus
from sandbox.gateway.handle import STATUS_FILE, GatewayHandle
from sandbox.docker.service_image import SERVICE_IMAGE, require_service_image

SIDECAR_PORT = 8080
DATA_DIR = "/home/sandbox/gw"  # the per-run volume: run/ (status) and cache/
START_TIMEOUT_S = 30.0
SIDECAR_USER = "1000:1000"
SETTLE_S = 0.3  # > the gateway's status write interval (accounting.WRITE_INTERVAL_S)
SNAPSHOT_TTL_S = 1.0  # the reads right after a Codex run (usage, events, last error) share one snapshot


class SidecarGateway(GatewayHandle):
    """Context manager: one gateway container for one run; `.sidecar_url` is what Codex calls."""

    def __init__(
        self,
        config: GatewayConfig,
        *,
        repo: Path,
        run_id: str,
        task_id: str | None = None,
        remote: bool = True,
        upstream_network: str = "bridge",
        image: str = SERVICE_IMAGE,
    ):
        super().__init__(config)
        self.repo = Path(repo)
        self.run_id = run_id
        self.task_id = task_id
        self.remote = remote
        self.upstream_network = upstream_network
        self.image = image
        self.name = f"codex-sandbox-gw-{run_id.lower()}"
        self._container = None
        self._volume = None
        self._live: tuple[float, GatewayStatus | None] | None = None

    # ------------------------------------------------------------------ start

    def start(self) -> None:
        """Network, volume, container (stdin attached), config over stdin, wait for the ready line."""
        from docker.errors import APIError

        from sandbox.docker.client import get_client
        from sandbox.gateway.engine import ensure_internal_network, sidecar_upstream

        if self.config.mode == "replay" and self.config.cache_dir is None:
            raise GatewayError("replay mode needs a cache directory")
        client = get_client()
        require_service_image(client, self.image)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        labels = lbl.run_labels(self.repo, self.run_id, self.task_id, kind="gateway")
        try:
            self.network = ensure_internal_network(client, self.repo)
            self._volume = client.volumes.create(name=f"{self.name}-data", labels=labels)
            upstream, extra_hosts = sidecar_upstream(self.config.upstream_base_url, remote=self.remote)
            self._container = self._create(client, labels, extra_hosts)
            self._seed_volume()
            client.networks.get(self.upstream_network).connect(self._container)
            sock = self._container.attach_socket(params={"stdin": 1, "stream": 1})
            try:
                self._container.start()
                raw = getattr(sock, "_sock", sock)
                raw.sendall(self._payload(upstream) + b"\n")
            finally:
                sock.close()
        except APIError as exc:
            raise GatewayError(f"cannot start the gateway sidecar: {exc.explanation or exc}") from None
        self._wait_ready()
        self.sidecar_url = f"http://{self.name}:{SIDECAR_PORT}/v1"

    def _create(self, client, labels: dict[str, str], extra_hosts: dict[str, str]):
        """Create the container; once more if `gc` removed the (then unused) network in between."""
        from docker.errors import NotFound

        from sandbox.gateway.engine import ensure_internal_network

        try:
            return client.containers.create(**self._kwargs(labels, extra_hosts))
        except NotFound:
            self.network = ensure_internal_network(client, self.repo)
            return client.containers.create(**self._kwargs(labels, extra_hosts))

    def _kwargs(self, labels: dict[str, str], extra_hosts: dict[str, str]) -> dict:
        from docker.types import Mount

        from sandbox.docker.seccomp import security_opt

        return {
            "image": self.image,
            "command": ["python3", "-m", "sandbox.gateway", "--until-signal"],
            "name": self.name,
            "hostname": self.name,
            "user": SIDECAR_USER,
            "labels": labels,
            "init": True,
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges:true", security_opt()],
            "read_only": True,
            "tmpfs": {"/tmp": "rw,nosuid,nodev,size=64m,mode=1777"},
            "mounts": [Mount(DATA_DIR, self._volume.name, type="volume")],
            "network": self.network,
            "extra_hosts": extra_hosts or None,
            "pids_limit": 128,
            "mem_limit": "512m",
            "nano_cpus": int(1e9),
            "ipc_mode": "private",
            "stdin_open": True,
            "tty": False,
        }

    def _seed_volume(self) -> None:
        """run/ and cache/ writable by the gateway's uid, plus the recorded exchanges in replay mode."""
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for d in ("run", "cache"):
                info = tarfile.TarInfo(d)
                info.type, info.mode = tarfile.DIRTYPE, 0o777
                tar.addfile(info)
            cache = self.config.cache_dir
            if self.config.mode == "replay" and cache is not None and Path(cache).is_dir():
                for f in sorted(Path(cache).glob("*.json")):
                    tar.add(str(f), arcname=f"cache/{f.name}", recursive=False)
        self._container.put_archive(DATA_DIR, buf.getvalue())

    def _payload(self, upstream: str) -> bytes:
        cfg = self.config.model_dump(
            mode="json", exclude={"api_key", "run_token", "socket_dir", "tcp_listen"}
        )
        cfg.update(
            upstream_base_url=upstream,
            api_key=self.config.api_key.get_secret_value(),
            run_token=self.run_token,
            run_dir=f"{DATA_DIR}/run",
            cache_dir=f"{DATA_DIR}/cache",
            tcp_listen=f"0.0.0.0:{SIDECAR_PORT}",
        )
        return json.dumps(cfg).encode()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            logs = self._container.logs(stdout=True, stderr=False).decode(errors="replace")
            if '"ready": true' in logs:
                return
            self._container.reload()
            if self._container.status not in ("created", "running"):
                break
            time.sleep(0.05)
        tail = self._container.logs(stdout=False, stderr=True).decode(errors="replace").strip().splitlines()
        raise GatewayError(f"the gateway sidecar did not start: {tail[-1] if tail else 'no output'}")

    # ------------------------------------------------------------------ status

    def _read(self, path: str) -> bytes | None:
        from docker.errors import APIError, NotFound

        if self._container is None:
            return None
        try:
            chunks, _ = self._container.get_archive(path)
            data = b"".join(chunks)
        except (NotFound, APIError):
            return None
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            member = tar.next()
            fh = tar.extractfile(member) if member is not None and member.isfile() else None
            return fh.read() if fh is not None else None

    def status(self) -> GatewayStatus | None:
        """The sidecar's status file (live while it runs), or its final status after close."""
        if self._final is not None or self._container is None:
            return self._final
        now = time.monotonic()
        if self._live is not None and now - self._live[0] < SNAPSHOT_TTL_S:
            return self._live[1]
        time.sleep(SETTLE_S)  # the gateway rewrites its status file at most every 0.2 s
        raw = self._read(f"{DATA_DIR}/run/{STATUS_FILE}")
        try:
            st = GatewayStatus.model_validate_json(raw) if raw else None
        except ValueError:
            st = None
        self._live = (time.monotonic(), st)
        return st

    # ------------------------------------------------------------------ stop

    def close(self) -> None:
        """SIGTERM, keep the final status, log and new cache entries on the host, remove container and volume."""
        from docker.errors import APIError, NotFound
        from requests.exceptions import RequestException

        container, self._container = self._container, None
        if container is not None:
            try:
                container.kill(signal="SIGTERM")
                container.wait(timeout=10)
            except (APIError, RequestException):
                pass
            self._container, self._live = container, None  # archive reads work on a stopped container
            try:
                self._final = self.status()
                if self._final is not None:
                    self.status_path.write_text(self._final.model_dump_json())
                self._copy_cache()
                self.log_path.write_bytes(container.logs(stdout=False, stderr=True))
            except (OSError, APIError, RequestException):
                pass
            self._container = None
            try:
                container.remove(force=True)
            except (NotFound, APIError, RequestException):
                pass
        volume, self._volume = self._volume, None
        if volume is not None:
            try:
                volume.remove(force=True)
            except (NotFound, APIError, RequestException):
                pass

    def _copy_cache(self) -> None:
        """Recorded exchanges back into the host cache (plain `<sha256>.json` files only)."""
        import re

        cache = self.config.cache_dir
        if cache is None or self.config.mode != "live" or self._container is None:
            return
        from docker.errors import APIError, NotFound

        try:
            chunks, _ = self._container.get_archive(f"{DATA_DIR}/cache")
            data = b"".join(chunks)
        except (NotFound, APIError):
            return
        Path(cache).mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            for member in tar:
                name = member.name.rsplit("/", 1)[-1]
                if not member.isfile() or not re.fullmatch(r"[0-9a-f]{64}\.json", name):
                    continue
                dest = Path(cache) / name
                if dest.exists():
                    continue
                fh = tar.extractfile(member)
                if fh is not None:
                    tmp = dest.with_name(f".{name}.tmp")
                    tmp.write_bytes(fh.read())
                    tmp.replace(dest)
