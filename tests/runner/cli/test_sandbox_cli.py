"""`codex-sandbox sandbox run|ps|gc` end to end on the real engine, and a SIGKILL mid-run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from tests.ci_support import cli_path

from runner.cli.main import main
from sandbox.docker import labels as lbl

from tests.sandbox.sandbox_images import probe_image

pytestmark = pytest.mark.docker


def _json(out: str) -> dict:
    return json.JSONDecoder().raw_decode(out)[0]


def _repo_state(repo: Path) -> dict:
    git_dir = repo / ".git"
    return {
        "refs": subprocess.run(
            ["git", "-C", str(repo), "for-each-ref", "--format=%(refname) %(objectname)"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout,
        "HEAD": (git_dir / "HEAD").read_bytes(),
        "index": (git_dir / "index").read_bytes(),
    }


def test_run_prints_change_set_as_json(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    before = _repo_state(repo)
    code = main(
        [
            "sandbox",
            "run",
            "--json",
            "--image",
            probe_image(),
            "--",
            "bash",
            "-c",
            "echo hi; echo '# more' >> app.py; printf 'x\\033[31m\\n' > new.txt; rm README.md",
        ]
    )
    data = _json(capsys.readouterr().out)
    assert code == 0, data
    assert data["result"]["ok"] and data["result"]["exit_code"] == 0
    assert data["stats"] == {
        "files_added": 1,
        "files_modified": 1,
        "files_deleted": 1,
        "lines_added": 2,
        "lines_removed": 1,
        "binary_files": 0,
    }
    assert "+# more" in data["patch"]
    assert _repo_state(repo) == before  # nothing committed, nothing checked out
    log = repo / ".codex" / "runs" / "sandbox" / data["run_id"] / "output.log"
    assert log.read_text().strip() == "hi"


def test_run_human_output_escapes_control_characters(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    code = main(
        [
            "sandbox",
            "run",
            "--patch",
            "--image",
            probe_image(),
            "--",
            "bash",
            "-c",
            "printf 'evil\\033]0;title\\007\\n' > new.txt; printf 'out\\033[2J\\n'",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0
    assert "\x1b" not in captured.out and "\x1b" not in captured.err and "\x07" not in captured.out
    assert "\\x1b]0;title\\x07" in captured.out
    assert "1 added, 0 modified, 0 deleted" in captured.out


def test_failed_command_timeout_and_oom_exit_1(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    image = probe_image()
    assert main(["sandbox", "run", "--image", image, "--", "false"]) == 1
    assert "command failed: exit code 1" in capsys.readouterr().err
    assert main(["sandbox", "run", "--image", image, "--timeout", "1", "--", "sleep", "30"]) == 1
    assert "timed out" in capsys.readouterr().err
    assert (
        main(
            [
                "sandbox",
                "run",
                "--image",
                image,
                "--memory",
                "64m",
                "--",
                "bash",
                "-c",
                "head -c 400m /dev/zero | tail",
            ]
        )
        == 1
    )
    assert "out of memory" in capsys.readouterr().err


def test_hostile_tree_exit_3_and_bad_flags_exit_2(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    before = _repo_state(repo)
    assert main(["sandbox", "run", "--image", probe_image(), "--", "mkfifo", "pipe"]) == 3
    assert "pipe" in capsys.readouterr().err
    assert _repo_state(repo) == before
    assert main(["sandbox", "run", "--memory", "lots", "--", "true"]) == 2
    assert main(["sandbox", "run", "--network", "host", "--", "true"]) == 2
    assert main(["sandbox", "run", "--pids", "1", "--", "true"]) == 2


def test_engine_unreachable_exit_4(repo, monkeypatch, capsys):
    from sandbox.docker.client import get_client

    get_client.cache_clear()
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    monkeypatch.chdir(repo)
    try:
        assert main(["sandbox", "run", "--", "true"]) == 4
    finally:
        get_client.cache_clear()
    err = capsys.readouterr().err
    assert "cannot reach the Docker engine at unix:///nonexistent/docker.sock (DOCKER_HOST)" in err
    assert "no socket at /nonexistent/docker.sock" in err and len(err.splitlines()) == 1


def _running(repo: Path) -> list:
    from sandbox.docker.client import get_client

    return get_client().containers.list(filters={"label": f"{lbl.REPO_ID}={lbl.repo_id(repo)}"})


def test_sigkill_mid_run_then_gc_leaves_nothing(repo):
    from sandbox.tree.worktree import state_dir_for

    before = _repo_state(repo)
    proc = subprocess.Popen(
        [cli_path(), "sandbox", "run", "--image", probe_image(), "--", "sleep", "60"],
        cwd=repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not _running(repo):
        assert time.monotonic() < deadline and proc.poll() is None, "the sandbox never started"
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert _running(repo)  # the orphan outlives its owner...
    gc = subprocess.run(
        [cli_path(), "sandbox", "gc", "--json"], cwd=repo, capture_output=True, text=True, check=False
    )
    assert gc.returncode == 0, gc.stderr
    report = _json(gc.stdout)
    assert len(report["containers"]) == 1 and report["worktrees"]
    from sandbox.docker.client import get_client

    assert not get_client().containers.list(all=True, filters={"label": f"{lbl.REPO_ID}={lbl.repo_id(repo)}"})
    trees = state_dir_for(repo) / "worktrees"
    assert not [p for p in trees.iterdir() if p.is_dir()] if trees.exists() else True
    listed = subprocess.run(
        ["git", "-C", str(repo), "worktree", "list", "--porcelain"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    assert listed.count("worktree ") == 1
    assert _repo_state(repo) == before


def test_ps_lists_a_running_sandbox(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    proc = subprocess.Popen(
        [cli_path(), "sandbox", "run", "--image", probe_image(), "--", "sleep", "30"],
        cwd=repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not _running(repo):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert main(["sandbox", "ps", "--json"]) == 0
        rows = _json(capsys.readouterr().out)["sandboxes"]
        assert len(rows) == 1 and rows[0]["owner_pid"] == str(proc.pid) and rows[0]["owner_alive"]
        assert rows[0]["kind"] == "sandbox" and rows[0]["status"] == "running"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert not _running(repo)  # Ctrl-C removed it


def test_keep_keeps_branch_and_patch_but_no_tree(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    code = main(
        [
            "sandbox",
            "run",
            "--json",
            "--keep",
            "--image",
            probe_image(),
            "--",
            "bash",
            "-c",
            "echo kept > kept.txt",
        ]
    )
    data = _json(capsys.readouterr().out)
    assert code == 0 and data["kept"]
    assert "+kept" in Path(data["patch_path"]).read_text()
    branches = subprocess.run(
        ["git", "-C", str(repo), "branch", "--list", data["branch"]],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    assert data["branch"] in branches
    listed = subprocess.run(
        ["git", "-C", str(repo), "worktree", "list", "--porcelain"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    assert f"branch refs/heads/{data['branch']}" not in listed  # no live tree on the kept branch


def test_output_log_is_capped_with_a_note(repo, monkeypatch, capsys):
    """40 MB on stdout: the log keeps the cap (1 MiB here) and ends saying how much was dropped."""
    monkeypatch.chdir(repo)
    monkeypatch.setenv("CODEX_SANDBOX_LIMITS_LOG_MB", "1")
    code = main(["sandbox", "run", "--json", "--image", probe_image(), "--",
                 "sh", "-c", "head -c 40000000 /dev/zero | tr '\\0' 'x'"])
    data = _json(capsys.readouterr().out)
    assert code == 0, data
    log = repo / ".codex" / "runs" / "sandbox" / data["run_id"] / "output.log"
    size = log.stat().st_size
    assert 1024 * 1024 <= size < 1024 * 1024 + 512
    tail = log.read_bytes()[-300:].decode()
    assert "log cap" in tail and "38951424 bytes of output dropped" in tail


def test_a_run_over_its_disk_cap_is_never_extracted(repo, monkeypatch, capsys):
    """Nothing of a run stopped at the cap is read: no change set, and no blob of it in the object store."""
    monkeypatch.chdir(repo)
    monkeypatch.setenv("CODEX_SANDBOX_LIMITS_DISK_MB", "16")
    objects_before = subprocess.run(["git", "-C", str(repo), "count-objects", "-v"], capture_output=True,
                                    text=True, check=True).stdout
    code = main(["sandbox", "run", "--json", "--image", probe_image(), "--", "sh", "-c",
                 "echo marker > small.txt; for i in $(seq 1 40); do head -c 4000000 /dev/urandom > big$i; sleep 0.1; done"])
    data = _json(capsys.readouterr().out)
    assert code == 1 and data["result"]["disk_exceeded"], data
    assert data["stats"]["files_added"] == 0 and data["patch"] == ""
    objects_after = subprocess.run(["git", "-C", str(repo), "count-objects", "-v"], capture_output=True,
                                   text=True, check=True).stdout
    assert objects_after == objects_before


@pytest.mark.parametrize("flood", [
    "fallocate -l 1000M big",  # a gigabyte in one call: no poll sees it coming
    "exec 3>big; rm big; head -c 300000000 /dev/zero >&3",  # an open, unlinked file: no walk ever sees it
], ids=["fallocate", "unlinked-file"])
def test_the_kernel_holds_the_disk_cap(repo, monkeypatch, capsys, flood):
    from tests.ci_support import missing_prerequisite

    from sandbox.tree import capfs
    from sandbox.tree.worktree import state_dir_for

    if capfs.unavailable_reason():
        missing_prerequisite(f"a kernel-enforced disk cap needs: {capfs.unavailable_reason()}")
    monkeypatch.chdir(repo)
    monkeypatch.setenv("CODEX_SANDBOX_LIMITS_DISK_MB", "32")
    monkeypatch.setenv("CODEX_SANDBOX_LIMITS_DISK_CAP", "kernel")
    main(["sandbox", "run", "--json", "--image", probe_image(), "--", "sh", "-c", f"{flood}; echo rc=$?"])
    data = _json(capsys.readouterr().out)
    log = (repo / ".codex" / "runs" / "sandbox" / data["run_id"] / "output.log").read_text()
    # the kernel refused the write at the cap (or the watcher saw the full filesystem and stopped the run)
    assert "No space left on device" in log or data["result"]["disk_exceeded"], log
    if data["result"]["disk_exceeded"]:
        assert data["stats"]["files_added"] == 0  # stopped at the cap: never extracted
    images = list((state_dir_for(repo) / "worktrees").glob("*.img"))
    assert images, "the run's tree was not on its own filesystem"
    for image in images:  # what the run took of the host's disk: the cap and its slack, not a gigabyte
        assert os.stat(image).st_blocks * 512 < 64 * 1024 * 1024, image
