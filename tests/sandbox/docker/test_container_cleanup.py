"""The container is removed on every path: normal exit, Ctrl-C, an exception, a failed start."""

from __future__ import annotations

import _thread
import signal
import threading

import pytest
from tests.sandbox.sandbox_images import probe_image

from sandbox.docker import labels as lbl
from sandbox.docker.container import Mount, RunSpec, run_container
from sandbox.errors import ContainerError, ImageError
from sandbox.settings import LimitsConfig

pytestmark = pytest.mark.docker


def _exists(run_id: str) -> bool:
    from sandbox.docker.client import get_client

    return bool(get_client().containers.list(all=True, filters={"label": f"{lbl.RUN}={run_id}"}))


def _spec(image: str, run_id: str, **kw) -> RunSpec:
    return RunSpec(
        image=image,
        command=["sleep", "30"],
        labels={lbl.RUN: run_id},
        limits=LimitsConfig(timeout_s=60),
        **kw,
    )


def _later(seconds: float, fn) -> threading.Timer:
    timer = threading.Timer(seconds, fn)
    timer.start()
    return timer


def test_removed_after_keyboard_interrupt():
    image = probe_image()
    seen = []
    _later(1.0, lambda: (seen.append(_exists("kbint-test")), _thread.interrupt_main()))
    with pytest.raises(KeyboardInterrupt):
        run_container(_spec(image, "kbint-test"))
    assert seen == [True]  # it was running when interrupted
    assert not _exists("kbint-test")


class Boom(Exception):
    pass


def test_removed_after_exception(monkeypatch):
    image = probe_image()

    def raise_boom(signum, frame):
        raise Boom()

    old = signal.signal(signal.SIGUSR1, raise_boom)
    try:
        _later(1.0, lambda: _thread.interrupt_main(signal.SIGUSR1))
        with pytest.raises(Boom):
            run_container(_spec(image, "boom-test"))
    finally:
        signal.signal(signal.SIGUSR1, old)
    assert not _exists("boom-test")


def test_missing_command_and_bad_mount(tmp_path):
    image = probe_image()
    result = run_container(RunSpec(image=image, command=["/no/such/binary"], labels={lbl.RUN: "nocmd-test"}))
    assert result.exit_code == 127 and not result.ok  # the init reports the failed exec
    assert not _exists("nocmd-test")
    with pytest.raises(ContainerError):
        run_container(
            RunSpec(
                image=image,
                command=["true"],
                labels={lbl.RUN: "nostart-test"},
                mounts=[Mount(source=tmp_path / "missing", target="/data")],
            )
        )
    assert not _exists("nostart-test")


def test_missing_image_is_an_image_error():
    with pytest.raises(ImageError):
        run_container(RunSpec(image="codex-sandbox/no-such-image:latest", command=["true"]))


def test_output_streamed_to_log_and_callback(tmp_path):
    image = probe_image()
    log = tmp_path / "logs" / "out.log"
    chunks: list[str] = []
    result = run_container(
        RunSpec(
            image=image,
            command=["bash", "-c", "echo one; echo two >&2; printf 'caf\\xc3\\xa9\\n'; exit 3"],
            log_path=log,
        ),
        on_output=chunks.append,
    )
    assert result.exit_code == 3 and not result.ok and result.reason == "exit code 3"
    text = "".join(chunks)
    assert "one" in text and "two" in text and "café" in text
    assert log.read_bytes().count(b"one") == 1 and "café" in log.read_text()
