"""Units of verify: detection, JUnit/coverage parsing, untrusted reads, fix context and targets."""

from __future__ import annotations

import os

import pytest

from runner.verify.detect import detect
from runner.verify.fix import error_context, fix_targets
from runner.verify.junit import parse_coverage, parse_junit, read_untrusted, trim_traceback
from runner.verify.report import VerifyReport
from tests.conftest import git

JUNIT = b"""<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="1" failures="1" skipped="1" tests="4">
<testcase classname="tests.test_calc" name="test_add" time="0.001"/>
<testcase classname="tests.test_calc.TestMul" name="test_mul" time="0.002">
  <failure message="assert 7 == 12">def test_mul():
&gt;       assert mul(3, 4) == 12
E       assert 7 == 12
tests/test_calc.py:11: AssertionError</failure></testcase>
<testcase classname="tests.test_calc" name="test_err"><error message="boom">calc.py:3: in f
E   RuntimeError: boom</error></testcase>
<testcase classname="tests.test_calc" name="test_skip"><skipped message="later"/></testcase>
</testsuite></testsuites>"""


def test_parse_junit_names_and_outcomes():
    cases = parse_junit(JUNIT)
    assert [(c.name, c.outcome) for c in cases] == [
        ("tests/test_calc.py::test_add", "passed"),
        ("tests/test_calc.py::TestMul::test_mul", "failed"),
        ("tests/test_calc.py::test_err", "error"),
        ("tests/test_calc.py::test_skip", "skipped"),
    ]
    assert "assert 7 == 12" in cases[1].traceback and cases[1].message == "assert 7 == 12"
    assert parse_junit(b"<not xml") == []


def test_coverage_and_trim():
    assert parse_coverage(b'<coverage line-rate="0.857" />') == 85.7
    assert parse_coverage(b"garbage") is None
    long = "\n".join(f"line {i}" for i in range(100))
    assert trim_traceback(long).splitlines()[-1] == "line 99" and len(trim_traceback(long).splitlines()) == 25


def test_read_untrusted_refuses_symlinks_and_big_files(tmp_path):
    secret = tmp_path / "host-secret"
    secret.write_text("host data")
    (tmp_path / "junit.xml").symlink_to(secret)
    assert read_untrusted(tmp_path / "junit.xml") is None
    big = tmp_path / "big.xml"
    big.write_bytes(b"x" * 2048)
    assert read_untrusted(big, limit=1024) is None
    assert read_untrusted(big, limit=4096) == b"x" * 2048
    os.mkfifo(tmp_path / "fifo")
    assert read_untrusted(tmp_path / "fifo") is None


def test_detect(tmp_path):
    (tmp_path / "requirements.txt").write_text("requests>=2  # http\n-r more.txt\npytest\n--index-url x\n")
    (tmp_path / "more.txt").write_text("iniconfig==2.0.0\n")
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname="x"\ndependencies=["attrs"]\n[project.optional-dependencies]\ntest=["hypothesis"]\n'
    )
    d = detect(tmp_path)
    assert d.ecosystem == "python" and d.command == "python3 -m pytest"
    assert d.requirements == ["requests>=2", "iniconfig==2.0.0", "attrs", "hypothesis"]
    node = tmp_path / "node"
    node.mkdir()
    (node / "package.json").write_text('{"scripts": {"test": "jest"}}')
    assert detect(node).command == "npm test" and detect(node).ecosystem == "node"
    assert detect(node, "make check").command == "make check"


def test_fix_context_and_targets(repo):
    (repo / "calc.py").write_text("def mul(a, b):\n    return a + b\n")
    (repo / "tests").mkdir()
    (repo / "tests" / "test_calc.py").write_text("import os\nfrom calc import mul\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "x")
    sha = git(repo, "rev-parse", "HEAD")
    cases = parse_junit(JUNIT)
    report = VerifyReport(
        run_id="r1",
        commit=sha,
        passed=False,
        exit_code=1,
        command="pytest",
        image="img",
        ecosystem="python",
        total=4,
        failed=1,
        errors=1,
        failures=cases[1:3],
    )
    assert fix_targets(repo, report) == ["calc.py", "tests/test_calc.py"]
    ctx = error_context(report)
    assert "FAILED tests/test_calc.py::TestMul::test_mul" in ctx and "RuntimeError: boom" in ctx
    assert len(error_context(report.model_copy(update={"failures": cases[1:2] * 50}))) <= 6000


def test_fix_cycles_are_bounded_per_task(repo):
    from runner.config.load import load_config
    from runner.errors import StateError
    from runner.state.models import PlanVersion, Task
    from runner.state.store import Store
    from runner.verify.fix import propose_fix
    from runner.verify.report import runs_dir, save

    config = load_config(repo, overrides={"verify": {"max_fix_cycles": 2}}).config
    sha = git(repo, "rev-parse", "HEAD")
    report = VerifyReport(run_id="r1", commit=sha, passed=False, exit_code=1, command="pytest", image="img",
                          ecosystem="python", total=4, failed=1, failures=parse_junit(JUNIT)[1:2])
    save(report, runs_dir(repo) / "r1")
    with Store.open(repo) as store:
        origin = Task(type="implement", title="feature", status="completed")
        store.add_task(origin)
        store.insert_plan(PlanVersion(version=1, status="approved", task_ids=[origin.id]))
        for cycle in (1, 2):
            store.set_lifecycle_state("VERIFYING", "test")
            fix = propose_fix(repo, store, config)
            assert fix.dependencies == [origin.id] and store.lifecycle_state() == "BUILDING"
            store.update_task(fix.id, event="task.completed", status="completed")  # the fix "built"
        store.set_lifecycle_state("VERIFYING", "test")
        with pytest.raises(StateError, match="fix cycles exhausted"):
            propose_fix(repo, store, config)
        assert len([t for t in store.list_tasks() if t.type == "fix"]) == 2
