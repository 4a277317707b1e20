"""User and model text is printed as it is (no rich markup); Ctrl-C and SIGTERM end with one error line."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from tests.ci_support import cli_path

from runner.cli.main import main
from sandbox.docker import labels as lbl

from tests.sandbox.sandbox_images import probe_image

TITLES = ("a [/x] b", "[bold]not bold[/bold] and [red]")


def test_task_titles_that_look_like_markup_are_printed_literally(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    monkeypatch.setenv("COLUMNS", "250")  # a wide table: no cell is wrapped or cut
    for title in TITLES:
        assert main(["task", "add", title]) == 0
        assert title in capsys.readouterr().out
    assert main(["task", "list"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    for title in TITLES:
        assert title in out


def test_progress_lines_are_not_markup_either(repo, monkeypatch, capsys):
    from runner.cli.context import AppContext

    AppContext().info("model said [/x] and [bold]hi[/bold]")
    assert capsys.readouterr().err == "model said [/x] and [bold]hi[/bold]\n"


def _running(repo: Path) -> bool:
    from sandbox.docker.client import get_client

    return bool(get_client().containers.list(filters={"label": f"{lbl.REPO_ID}={lbl.repo_id(repo)}"}))


@pytest.mark.docker
@pytest.mark.parametrize(("sig", "flags"), [(signal.SIGINT, []), (signal.SIGTERM, ["--json"])])
def test_interrupt_mid_run_is_one_error_line_and_exit_130(repo, sig, flags):
    proc = subprocess.Popen(
        [cli_path(), *flags, "sandbox", "run", "--image", probe_image(), "--", "sleep", "30"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not _running(repo):
            assert time.monotonic() < deadline and proc.poll() is None, "the sandbox never started"
            time.sleep(0.1)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert err.splitlines()[-1] == "error: interrupted"
    assert err.count("error:") == 1
    if flags:
        assert json.loads(out) == {"error": {"message": "interrupted", "exit_code": 130}}
    assert not _running(repo)  # the container went with it
