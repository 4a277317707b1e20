"""No raw tool text: git, Docker, pydantic and tini errors reach the user as one line naming the cause
and the fix. Through the real CLI (in-process and the installed entry point)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import typer
from tests.ci_support import cli_path
from tests.runner.cli.lifecycle_cli_support import cli

from runner.cli.main import main


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    assert "Traceback" not in err and "fatal:" not in lines[0]
    return lines[0]


def test_unknown_revision_names_it_and_the_fix(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    code, _, err = cli(capsys, "policy", "check", "--diff", "nonexistent")
    assert code == 2
    line = one_error_line(err)
    assert line.startswith("error: unknown revision 'nonexistent' (--diff)") and "git log --oneline" in line
    assert "Needed a single revision" not in err
    code, _, err = cli(capsys, "policy", "check", "--diff", "HEAD..nope")
    assert code == 2 and "unknown revision 'nope' (--diff)" in one_error_line(err)


def test_unreachable_engine_names_docker_host_and_how_to_start_it(repo, monkeypatch):
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent.sock"}
    proc = subprocess.run([cli_path(), "sandbox", "ps"], cwd=repo, env=env, capture_output=True, text=True,
                          check=False, timeout=60)
    assert proc.returncode == 4
    line = one_error_line(proc.stderr)
    assert line == ("error: cannot reach the Docker engine at unix:///nonexistent.sock (DOCKER_HOST): no socket at "
                    "/nonexistent.sock; start the engine (`sudo systemctl start docker`, or Docker Desktop) or "
                    "point DOCKER_HOST at a running one (unset it for the default socket)")
    assert "Connection aborted" not in proc.stderr and "FileNotFoundError" not in proc.stderr


def test_unreachable_engine_without_docker_host_names_the_default_socket():
    from sandbox.docker.client import unreachable_message

    saved = os.environ.pop("DOCKER_HOST", None)
    try:
        text = unreachable_message("('Connection aborted.', FileNotFoundError(2, 'No such file or directory'))")
        denied = unreachable_message("('Connection aborted.', PermissionError(13, 'Permission denied'))")
    finally:
        if saved is not None:
            os.environ["DOCKER_HOST"] = saved
    assert text.startswith("cannot reach the Docker engine at unix:///var/run/docker.sock (the default; "
                           "DOCKER_HOST is not set): no socket at /var/run/docker.sock; start the engine")
    assert "permission denied on /var/run/docker.sock" in denied and "usermod -aG docker" in denied


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the repository to another uid")
def test_a_repo_owned_by_another_uid_names_safe_directory(repo, tmp_path):
    foreign = tmp_path / "foreign"
    shutil.copytree(repo, foreign, symlinks=True)
    for path in [foreign, *foreign.rglob("*")]:
        os.lchown(path, 4321, 4321)
    env = {k: v for k, v in os.environ.items() if k != "GIT_CONFIG_NOSYSTEM"}
    proc = subprocess.run([cli_path(), "status"], cwd=foreign, env=env, capture_output=True, text=True,
                          check=False, timeout=60)
    assert proc.returncode == 2
    line = one_error_line(proc.stderr)
    assert line == (f"error: git refuses the repository at {foreign}: it belongs to another user (git's "
                     f"safe.directory check); if you trust it, run "
                     f"`git config --global --add safe.directory {foreign}`")
    assert proc.stderr.count("\n") == 1  # git's own advice is not repeated


def test_a_pydantic_error_anywhere_is_one_line_with_the_field(repo, monkeypatch, capsys):
    """A ValidationError that escapes a command (here: a model fed a bad value) names the field."""
    from pydantic import BaseModel

    import runner.cli.status as status_cmd

    class Limits(BaseModel):
        memory_mb: int

    def broken(ctx: typer.Context) -> None:
        Limits(memory_mb="lots")

    monkeypatch.setattr(status_cmd, "status", broken)
    monkeypatch.chdir(repo)
    code, out, err = cli(capsys, "status")
    assert code == 2
    line = one_error_line(err)
    assert line.startswith("error: invalid memory_mb: Input should be a valid integer") and "(got 'lots')" in line
    code, out, err = cli(capsys, "--json", "status")
    assert code == 2 and '"invalid memory_mb: ' in out


def test_an_unexpected_error_is_one_line_and_the_traceback_only_with_v(repo, monkeypatch, capsys):
    import runner.cli.status as status_cmd

    def broken(ctx: typer.Context) -> None:
        {}["missing"]

    monkeypatch.setattr(status_cmd, "status", broken)
    monkeypatch.chdir(repo)
    code, _out, err = cli(capsys, "status")
    assert code == 1 and err == "error: internal error: KeyError: 'missing' (a bug; -v shows the traceback)\n"
    code, _out, err = cli(capsys, "-v", "status")
    assert code == 1 and "Traceback" in err
    cli(capsys, "status")


def test_translation_of_tool_text():
    from runner.cli.translate import describe, missing_program, refine
    from runner.errors import ExitCode
    from sandbox.errors import WorktreeError

    assert describe(WorktreeError("unknown base revision 'HEAD' in /r"))[1] == ExitCode.INVALID_INPUT
    assert "has no commit yet" in describe(WorktreeError("unknown base revision 'HEAD' in /r"))[0]
    msg, code = refine("git log: fatal: detected dubious ownership in repository at '/srv/x'", ExitCode.FAILED)
    assert code == ExitCode.INVALID_INPUT and "safe.directory /srv/x" in msg
    assert missing_program("[FATAL tini (8)] exec pytest failed: No such file or directory",
                           "codex-sandbox/codex:abc") == (
        "pytest not found in image codex-sandbox/codex:abc; use --image codex-sandbox/python (python3, pip, pytest)")
    assert missing_program("all fine", "img") is None


@pytest.mark.docker
def test_a_program_missing_from_the_image_names_the_image_to_use(repo, monkeypatch, capsys):
    """`sandbox run -- pytest -q` in the codex image: not tini's `exec pytest failed`, but which image has it."""
    from tests.sandbox.sandbox_images import probe_image

    monkeypatch.chdir(repo)
    image = probe_image()
    code, _out, err = cli(capsys, "sandbox", "run", "--image", image, "--", "no-such-program-here", "-q")
    assert code == 2
    line = one_error_line(err)
    assert line.endswith(f": no-such-program-here not found in image {image}; "
                         "use --image codex-sandbox/python (python3, pip, pytest)"), line
    assert main(["sandbox", "run", "--image", image, "--", "true"]) == 0
