"""verify, maintain and deploy run in the command session: repo lock, recovery in one line, lifecycle check."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from runner.cli.main import main
from runner.state.lock import read_holder
from runner.state.models import PlanVersion, Run
from runner.state.store import Store
from tests.conftest import git
from tests.runner.deploy.app_fixture import mark_verified


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _crashed_run(repo, kind: str) -> str:
    run = Run(kind=kind, pid=_dead_pid())
    with Store.open(repo) as store:
        store.start_run(run)
    return run.id


def _recovered_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if "recovered 1 interrupted run" in line]


def test_maintain_recovers_a_crashed_run_and_checks_the_lifecycle(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    run_id = _crashed_run(repo, "build")
    assert main(["maintain", "patch", "tighten input checks"]) == 0  # ad hoc: allowed without a plan
    assert len(_recovered_lines(capsys.readouterr().err)) == 1
    with Store.open(repo) as store:
        assert store.get_run(run_id).status == "interrupted"
        store.insert_plan(PlanVersion(version=1, status="approved"))
        store.set_lifecycle_state("BUILDING", "test")
    assert main(["maintain", "patch", "again"]) == 5  # once a plan exists: OBSERVING/MAINTAINING only
    assert "BUILDING" in capsys.readouterr().err


@pytest.mark.docker
def test_verify_run_recovers_a_crashed_run_in_one_line(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    run_id = _crashed_run(repo, "verify")
    assert main(["verify", "run"]) in (0, 1)  # the fixture repo has no tests: the run itself may fail
    assert len(_recovered_lines(capsys.readouterr().err)) == 1
    with Store.open(repo) as store:
        assert store.get_run(run_id).status == "interrupted"
        runs = store.list_runs(kind="verify")
        assert len(runs) == 2 and runs[-1].status in ("succeeded", "failed")  # recorded; no state moved
        assert store.lifecycle_state() == "IDLE"


@pytest.mark.docker
def test_deploy_holds_the_repo_lock(repo, monkeypatch, capsys):
    (repo / "Dockerfile").write_text("FROM scratch\n")  # the deploy preflight wants one; the pre step fails first
    git(repo, "add", "Dockerfile")
    git(repo, "commit", "-q", "-m", "Dockerfile")
    with Store.open(repo) as store:
        store.insert_plan(PlanVersion(version=1, status="approved"))
        store.set_lifecycle_state("DEPLOYING", "test")
        mark_verified(store, git(repo, "rev-parse", "HEAD"))
    (repo / ".codex" / "config.yaml").write_text(
        "deploy:\n  project: cxs-lock\n  environments:\n    staging:\n      steps:\n"
        "        - {name: slow, phase: pre, command: 'sleep 8; exit 1'}\n"
    )
    code = "import sys; from runner.cli.main import main; sys.exit(main(sys.argv[1:]))"
    first = subprocess.Popen([sys.executable, "-c", code, "deploy", "staging", "--commit", "HEAD"],
                             cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while (read_holder(repo) or {}).get("command") != "deploy staging":
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.05)
        monkeypatch.chdir(repo)
        assert main(["deploy", "staging", "--commit", "HEAD"]) == 5
        err = capsys.readouterr().err
        assert f"locked by pid {first.pid} (`deploy staging`)" in err
    finally:
        _out, err = first.communicate(timeout=120)
    assert first.returncode == 1, err  # its pre step failed: nothing was switched
    with Store.open(repo) as store:
        (run,) = store.list_runs(kind="deploy")
        assert run.status == "failed" and run.details["steps"][0]["name"] == "slow"
