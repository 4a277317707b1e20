"""verify run on a repo with no plan: tests in the sandbox, failures named, deps cached, no state moved."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from runner.cli.main import main
from runner.state.store import Store
from tests.conftest import git
from tests.runner.verify.fixture_project import write_project

pytestmark = pytest.mark.docker


def test_verify_run_names_failure_caches_deps_and_moves_no_state(repo, monkeypatch, capsys, tmp_path):
    sha = write_project(repo)
    monkeypatch.chdir(repo)

    assert main(["verify", "run"]) == 1
    out = capsys.readouterr().out
    assert "FAILED tests/test_calc.py::test_mul" in out and "3 tests, 1 failed" in out
    assert "test_add" not in out

    assert main(["--json", "verify", "run"]) == 1
    second = json.loads(capsys.readouterr().out)
    assert second["deps_installed"] is False and second["deps_cached"] is True  # no reinstall
    assert second["commit"] == sha and second["failures"][0]["name"] == "tests/test_calc.py::test_mul"
    assert "assert 7 == 12" in second["failures"][0]["traceback"]
    assert second["coverage_percent"] is not None

    assert main(["--json", "verify", "report"]) == 0
    assert json.loads(capsys.readouterr().out)["run_id"] == second["run_id"]
    junit = tmp_path / "junit.xml"
    assert main(["verify", "report", "--junit", str(junit)]) == 0
    assert len(list(ET.parse(junit).getroot().iter("testcase"))) == 3

    with Store.open(repo) as store:
        runs = store.list_runs(kind="verify")
        assert [r.status for r in runs] == ["failed", "failed"] and runs[0].commit == sha
        assert store.lifecycle_state() == "IDLE"
    # verify fix needs the lifecycle (a plan): without one it is a state error, and nothing is added
    assert main(["verify", "fix"]) == 5
    assert git(repo, "status", "--porcelain") == ""  # the user's tree untouched; .codex is git-excluded


def test_verify_passes_on_fixed_commit(repo, monkeypatch, capsys):
    write_project(repo)
    (repo / "calc.py").write_text((repo / "calc.py").read_text().replace("a + b  # bug", "a * b"))
    git(repo, "commit", "-qam", "fix mul")
    monkeypatch.chdir(repo)
    assert main(["verify", "run"]) == 0
    assert "PASS" in capsys.readouterr().out
