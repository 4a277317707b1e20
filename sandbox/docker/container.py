"""Run one command in an ephemeral, hardened container and always remove it."""

from __future__ import annotations

import codecs
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from sandbox.docker import labels as lbl
from sandbox.errors import ContainerError, ImageError
from sandbox.docker.ownership import hand_back, hand_over, is_root_host
from sandbox.settings import LimitsConfig
from sandbox.docker.watch import DiskWatcher

ROOT_HOST_USER = "1000:1000"  # a fixed unprivileged uid when we run as root
HOME = "/home/sandbox"


class Mount(BaseModel):
    """An explicit extra bind mount (the only host paths besides the workspace)."""

    model_config = ConfigDict(extra="forbid")
    source: Path
    target: str
    read_only: bool = False


class RunSpec(BaseModel):
    """What to run and under which limits."""

    model_config = ConfigDict(extra="forbid")
    image: str
    command: list[str] = Field(min_length=1)
    workspace: Path | None = None
    workdir: str = "/workspace"
    env: dict[str, str] = Field(default_factory=dict)
    network: str = "none"
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    labels: dict[str, str] = Field(default_factory=dict)
    mounts: list[Mount] = Field(default_factory=list)
    log_path: Path | None = None
    name: str | None = None
    user: str | None = None


class RunResult(BaseModel):
    """How a run ended."""

    exit_code: int | None
    timed_out: bool = False
    oom_killed: bool = False
    disk_exceeded: bool = False
    duration_s: float
    log_path: Path | None = None
    container_id: str
    container_name: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.oom_killed and not self.disk_exceeded

    @property
    def reason(self) -> str:
        """One short phrase for humans: why the run ended."""
        if self.timed_out:
            return "timed out"
        if self.oom_killed:
            return "killed: out of memory"
        if self.disk_exceeded:
            return "stopped: workspace over its disk cap"
        return f"exit code {self.exit_code}"


def default_user() -> str:
    """The host's uid:gid, or a fixed unprivileged uid when the host user is root."""
    return ROOT_HOST_USER if is_root_host() else f"{os.getuid()}:{os.getgid()}"


def run_container(spec: RunSpec, *, on_output: Callable[[str], None] | None = None) -> RunResult:
    """Run `spec` to completion; stream output; enforce timeout and disk cap; remove the container."""
    from sandbox.docker.client import get_client

    if spec.workspace is not None and not Path(spec.workspace).is_dir():
        raise ContainerError(f"workspace is not a directory: {spec.workspace}")
    client = get_client()
    user = spec.user or default_user()
    chown_to = _uid_gid(user) if spec.workspace is not None and is_root_host() and spec.user is None else None
    if chown_to is not None:
        hand_over(spec.workspace, *chown_to)
    # ctime is stamped from the kernel's coarse clock, which may lag time_ns() by a tick
    since_ns = time.time_ns() - 50_000_000
    try:
        with _created(client, spec, user) as container:
            return _supervise(container, spec, on_output)
    finally:
        if chown_to is not None:
            hand_back(spec.workspace, os.getuid(), os.getgid(), since_ns)


def container_kwargs(spec: RunSpec, user: str) -> dict:
    """The hardened create() arguments for `spec` (pure; tests inspect it)."""
    from sandbox.docker.seccomp import security_opt

    if spec.network == "host":
        raise ContainerError("network 'host' is not allowed for a sandbox")
    lim = spec.limits
    tmpfs_opts = f"rw,nosuid,nodev,size={lim.tmpfs_mb}m"
    uid, gid = _uid_gid(user)
    mounts = []
    if spec.workspace is not None:
        ws = Path(spec.workspace).resolve()
        mounts.append(_bind(ws, "/workspace", read_only=False))
        git_entry = ws / ".git"
        if git_entry.is_symlink() or git_entry.is_file():
            mounts.append(_bind(empty_file(), "/workspace/.git", read_only=True))
        elif git_entry.is_dir():
            mounts.append({"Type": "tmpfs", "Target": "/workspace/.git", "ReadOnly": True})
    for m in spec.mounts:
        if not str(m.target).startswith("/") or m.target.rstrip("/") in ("", "/workspace"):
            raise ContainerError(f"bad mount target {m.target!r}")
        if "docker.sock" in str(m.source):
            raise ContainerError("the Docker socket is never mounted into a sandbox")
        mounts.append(_bind(Path(m.source).resolve(), m.target, read_only=m.read_only))
    from docker.types import Mount as DockerMount

    run_id = spec.labels.get(lbl.RUN) or secrets.token_hex(6)
    labels = {lbl.MANAGED: "true", lbl.PID: str(os.getpid()), lbl.RUN: run_id, **spec.labels}
    env = {"HOME": HOME, "TMPDIR": "/tmp", **spec.env}
    return dict(
        image=spec.image,
        command=list(spec.command),
        name=spec.name or f"codex-sandbox-{run_id}",
        working_dir=spec.workdir,
        environment=env,
        user=user,
        labels=labels,
        init=True,
        cap_drop=["ALL"],
        security_opt=["no-new-privileges:true", security_opt()],
        read_only=True,
        tmpfs={"/tmp": tmpfs_opts + ",mode=1777", HOME: f"{tmpfs_opts},mode=700,uid={uid},gid={gid}"},
        mounts=[DockerMount(**_snake(m)) for m in mounts],  # DockerMount is a dict: tests read it
        **(
            {"network_mode": spec.network}
            if spec.network in ("none", "bridge")
            else {"network": spec.network}
        ),
        pids_limit=lim.pids,
        mem_limit=lim.memory,
        memswap_limit=lim.memory,
        nano_cpus=int(lim.cpus * 1e9),
        ipc_mode="private",
        privileged=False,
        detach=True,
        stdin_open=False,
        tty=False,
    )


@contextmanager
def _created(client, spec: RunSpec, user: str) -> Iterator:
    """Create the container; remove it on every path (errors, Ctrl-C included)."""
    from docker.errors import APIError, ImageNotFound

    kwargs = container_kwargs(spec, user)
    kwargs.pop("detach")
    container = None
    try:
        try:
            container = client.containers.create(**kwargs)
        except ImageNotFound:
            raise ImageError(f"image not found: {spec.image} (run `codex-sandbox images build`)") from None
        except APIError as exc:
            raise ContainerError(f"cannot create container: {exc.explanation or exc}") from None
        yield container
    finally:
        if container is not None:
            _remove(container)


def _remove(container) -> None:
    from docker.errors import APIError, NotFound
    from requests.exceptions import RequestException

    for _ in range(3):
        try:
            container.remove(force=True)
            return
        except NotFound:
            return
        except RequestException:  # engine unreachable: `sandbox gc` reaps it by label later
            return
        except APIError as exc:  # "removal already in progress" and the like: retry briefly
            if exc.status_code == 409 and "already in progress" in str(exc):
                return
            time.sleep(0.2)


def _supervise(container, spec: RunSpec, on_output) -> RunResult:
    """Attach, start, wait under the deadline and the disk cap; report how it ended."""
    sink = _Sink(spec.log_path, on_output, cap_bytes=spec.limits.log_mb * 1024 * 1024)
    try:
        return _run_attached(container, spec, sink)
    finally:
        sink.close()


def _run_attached(container, spec: RunSpec, sink: _Sink) -> RunResult:
    from docker.errors import APIError

    stream = container.attach(stdout=True, stderr=True, stream=True, logs=True)
    reader = threading.Thread(target=sink.pump, args=(stream,), daemon=True)
    reader.start()
    started = time.monotonic()
    try:
        container.start()
    except APIError as exc:
        raise ContainerError(f"cannot start container: {exc.explanation or exc}") from None
    waiter = _Waiter(container, spec.limits.timeout_s)
    watcher = DiskWatcher(spec.workspace, spec.limits.disk_mb * 1024 * 1024, on_exceed=waiter.kill)
    if spec.workspace is not None:
        watcher.start()
    deadline = started + spec.limits.timeout_s
    timed_out = False
    try:
        while not waiter.done.wait(timeout=max(0.0, min(1.0, deadline - time.monotonic()))):
            if time.monotonic() >= deadline:
                timed_out = True
                waiter.kill()
                waiter.done.wait(timeout=30)
                break
    finally:
        watcher.stop()
    duration = time.monotonic() - started
    reader.join(timeout=5)
    exit_code = waiter.status
    oom = _oom_killed(container) if not timed_out and not watcher.exceeded else False
    if timed_out:
        sink.write(f"\n[codex-sandbox] timed out after {spec.limits.timeout_s}s; killed\n".encode())
    return RunResult(
        exit_code=exit_code,
        timed_out=timed_out,
        oom_killed=oom,
        disk_exceeded=watcher.exceeded,
        duration_s=round(duration, 3),
        log_path=spec.log_path,
        container_id=container.id,
        container_name=container.name,
    )


def _oom_killed(container) -> bool:
    """OOMKilled from the container state (the engine records the memory cgroup's OOM event)."""
    from docker.errors import APIError

    try:
        container.reload()
    except APIError:
        return False
    return bool(container.attrs.get("State", {}).get("OOMKilled"))


class _Waiter:
    """Waits for the container's exit in a thread, so the main thread stays interruptible."""

    def __init__(self, container, timeout_s: int):
        self.container = container
        self.status: int | None = None
        self.done = threading.Event()
        self._lock = threading.Lock()
        self._killed = False
        threading.Thread(target=self._wait, args=(timeout_s + 60,), daemon=True).start()

    def _wait(self, http_timeout: int) -> None:
        from docker.errors import APIError
        from requests.exceptions import ConnectionError, ReadTimeout

        failures = 0
        try:
            while True:
                try:
                    self.status = self.container.wait(timeout=http_timeout).get("StatusCode")
                    return
                except ReadTimeout:
                    continue  # a run longer than the HTTP timeout: wait again
                except ConnectionError:
                    failures += 1  # the engine went away: give up after a few seconds
                    if failures > 10:
                        return
                    time.sleep(0.5)
                except APIError:
                    return
        finally:
            self.done.set()

    def kill(self) -> None:
        from docker.errors import APIError

        with self._lock:
            if self._killed:
                return
            self._killed = True
        from requests.exceptions import RequestException

        try:
            self.container.kill()
        except (APIError, RequestException):  # already exited, or the engine is gone
            pass


class _Sink:
    """Raw bytes to the log file, decoded text to the callback; both stop at the cap, and say so."""

    def __init__(self, log_path: Path | None, on_output, cap_bytes: int = 16 * 1024 * 1024):
        self.on_output = on_output
        self.log = None
        self.cap = cap_bytes
        self.seen = 0
        self.noted = False
        if log_path is not None:
            Path(log_path).parent.mkdir(parents=True, exist_ok=True)
            self.log = open(log_path, "ab")  # noqa: SIM115 - closed by close() on every path
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def pump(self, stream) -> None:
        try:
            for chunk in stream:
                self.write(chunk)
        except Exception:  # noqa: BLE001, S110 - the stream breaks when the container is removed under it
            pass

    def write(self, chunk: bytes) -> None:
        room = self.cap - self.seen
        self.seen += len(chunk)
        kept = chunk[:max(room, 0)]
        if kept and self.log is not None and not self.log.closed:
            self.log.write(kept)
            self.log.flush()
        if kept and self.on_output is not None:
            text = self.decoder.decode(kept)
            if text:
                self.on_output(text)
        if len(chunk) > room and not self.noted:
            self.noted = True
            self._note()

    @property
    def dropped(self) -> int:
        return max(0, self.seen - self.cap)

    def _note(self) -> None:
        note = f"\n[codex-sandbox: output over the {self.cap // (1024 * 1024)} MiB log cap; the rest is dropped]\n"
        if self.log is not None and not self.log.closed:
            self.log.write(note.encode())
        if self.on_output is not None:
            self.on_output(note)

    def close(self) -> None:
        if self.log is not None and not self.log.closed:
            if self.dropped:
                self.log.write(f"[codex-sandbox: {self.dropped} bytes of output dropped]\n".encode())
            self.log.close()


_EMPTY_LOCK = threading.Lock()


def empty_file() -> Path:
    """A private, empty, read-only regular file to cover /workspace/.git."""
    import stat
    import tempfile

    path = Path(tempfile.gettempdir()) / f"codex-sandbox-empty-{os.getuid()}"
    with _EMPTY_LOCK:
        try:
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode) and st.st_size == 0 and st.st_uid == os.getuid() and st.st_nlink == 1:
                return path
            os.unlink(path)
        except FileNotFoundError:
            pass
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o444)
        os.close(fd)
    return path


def _bind(source: Path, target: str, *, read_only: bool) -> dict:
    return {"Type": "bind", "Source": str(source), "Target": target, "ReadOnly": read_only}


def _snake(m: dict) -> dict:
    return {"type": m["Type"], "source": m.get("Source"), "target": m["Target"], "read_only": m["ReadOnly"]}


def _uid_gid(user: str) -> tuple[int, int]:
    uid, _, gid = user.partition(":")
    try:
        return int(uid), int(gid or uid)
    except ValueError:
        raise ContainerError(f"sandbox user must be numeric uid:gid, got {user!r}") from None
