"""No check passes without running: ruff, semgrep and detect-secrets made unavailable in turn (for real,
through CODEX_SANDBOX_DISABLE_TOOLS), crashing tools, and changes that give a check nothing to look at."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from tests.ci_support import cli_path

from runner.policy import evaluate_changes
from runner.policy.gitchanges import staged_changeset
from sandbox.tools import DISABLE_ENV, find_tool
from tests.runner.policy.policy_support import check_staged, commit, git

KEY = "AKIA" + "IOSFODNN7" + "EXAMPLE"  # AWS's documented example key id, split so no scanner flags this file
CHANGE = {
    # F401 (`sys` unused) for ruff, os.system for semgrep, an AWS key id for detect-secrets
    "app/run.py": "import os\nimport sys\n\n\ndef go(x):\n    os.system(x)\n",
    "app/settings.py": f'AWS_ACCESS_KEY_ID = "{KEY}"\n',
}
# tool -> (its check, the finding saying why it did not run, whether that finding blocks by default)
TOOLS = {
    "ruff": ("quality.lint", "lint.not-run", False),
    "semgrep": ("security.semgrep", "semgrep.not-run", True),
    "detect-secrets": ("security.secrets", "secret.scanner-missing", True),
}
CHECKS = [check for check, _, _ in TOOLS.values()]


def rules(report, check: str) -> set[str]:
    return {f.rule for f in report.findings if f.check == check}


def test_with_every_tool_each_check_really_runs(repo):
    report = check_staged(repo, CHANGE, use_cache=False)
    assert report.gates["quality.lint"] == "warn" and "lint.F401" in rules(report, "quality.lint")
    assert report.gates["security.semgrep"] == "block"
    assert "semgrep.python-os-system" in rules(report, "security.semgrep")
    assert report.gates["security.secrets"] == "block"
    assert "secret.aws-access-key" in rules(report, "security.secrets")  # detect-secrets' own plugin
    assert not [c for c in CHECKS if c in report.not_run]
    assert not [f for f in report.findings if f.rule.endswith(("not-run", "scanner-missing"))]


@pytest.mark.parametrize("tool", list(TOOLS))
def test_a_missing_tool_makes_its_check_not_run_never_pass(repo, monkeypatch, tool):
    check, rule, blocks = TOOLS[tool]
    monkeypatch.setenv(DISABLE_ENV, tool)
    report = check_staged(repo, CHANGE, use_cache=False)
    assert report.gates[check] == "not run"
    assert tool in report.not_run[check] and "disabled" in report.not_run[check]
    [why] = [f for f in report.findings if f.rule == rule]
    assert why.check == check and why.blocking is blocks and tool in why.message
    assert report.gates[check.split(".")[0]] in ("not run", "block")  # the gate never reads pass or warn
    assert report.decision != "pass"
    others = [c for c in CHECKS if c != check]
    assert all(report.gates[c] in ("warn", "block") for c in others), report.gates  # the rest still ran


def test_all_three_missing_blocks_and_nothing_passes(repo, monkeypatch):
    monkeypatch.setenv(DISABLE_ENV, ",".join(TOOLS))
    report = check_staged(repo, CHANGE, use_cache=False)
    assert {c: report.gates[c] for c in CHECKS} == dict.fromkeys(CHECKS, "not run")
    assert report.gates["security"] == "block" and report.gates["quality"] == "not run"
    assert report.decision == "block"
    assert {"semgrep.not-run", "secret.scanner-missing"} <= {f.rule for f in report.blocking}


@pytest.mark.slow
def test_disabling_semgrep_core_alone_falls_back_to_the_wrapper(repo, monkeypatch):
    monkeypatch.setenv(DISABLE_ENV, "semgrep-core")
    report = check_staged(repo, CHANGE, use_cache=False)
    assert report.gates["security.semgrep"] == "block"
    assert "semgrep.python-os-system" in rules(report, "security.semgrep")


@pytest.mark.slow
def test_the_cli_finds_its_tools_beside_its_interpreter_not_on_path(repo):
    """The issue's fresh clone: `.venv/bin/codex-sandbox` with no virtualenv on PATH still runs every scanner."""
    assert find_tool("ruff") and find_tool("semgrep"), "the tools ship with the install"
    for rel, text in CHANGE.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    git(repo, "add", "-A")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", DISABLE_ENV)}
    env["PATH"] = "/usr/bin:/bin"  # git only: no ruff, no semgrep
    proc = subprocess.run([cli_path(), "--json", "policy", "check", "--staged"], cwd=repo, env=env,
                          capture_output=True, text=True, check=False, timeout=300)  # fmt: skip
    report = json.loads(proc.stdout)
    assert proc.returncode == 3, proc.stderr
    assert {c: report["gates"][c] for c in CHECKS} == {
        "quality.lint": "warn", "security.semgrep": "block", "security.secrets": "block"}  # fmt: skip
    env[DISABLE_ENV] = "ruff"
    proc = subprocess.run([cli_path(), "--json", "policy", "check", "--staged"], cwd=repo, env=env,
                          capture_output=True, text=True, check=False, timeout=300)  # fmt: skip
    report = json.loads(proc.stdout)
    assert report["gates"]["quality.lint"] == "not run" and "ruff" in report["not_run"]["quality.lint"]


def test_a_crashing_ruff_is_not_run(repo):
    """ruff refusing its arguments (an unknown rule code) exits 2 with no report: not run, and why."""
    report = check_staged(repo, {"a.py": "import os\n"}, config={"quality": {"lint": {"select": ["NOPE999"]}}})
    assert report.gates["quality.lint"] == "not run"
    [why] = [f for f in report.findings if f.check == "quality.lint"]
    assert why.rule == "lint.not-run" and "exit 2" in why.message and not why.blocking
    assert report.decision == "warn"


def test_a_check_that_raises_is_not_run_and_blocks_when_it_is_blocking(repo):
    """A licence table that is not YAML makes the licence check raise: not run, the others still run."""
    commit(repo, {"lic.yaml": "pypi: [unclosed\n"})
    report = check_staged(repo, {"requirements.txt": "requests==2.19.0\n"},
                          config={"compliance": {"licenses": {"table": "lic.yaml"}}})  # fmt: skip
    assert report.gates["compliance.licenses"] == "not run" and report.gates["compliance"] == "block"
    [why] = [f for f in report.findings if f.check == "compliance.licenses"]
    assert why.rule == "license.not-run" and why.blocking and "crashed" in why.message
    assert report.gates["security.dependencies"] == "block"  # requests 2.19.0 is a known-bad version


def test_an_unparsable_dependency_file_is_not_a_silent_pass(repo):
    report = check_staged(repo, {"package.json": '{"dependencies": {"left-pad": "1.0.0",}\n'})
    assert report.gates["security.dependencies"] == "not run"
    [why] = [f for f in report.findings if f.check == "security.dependencies"]
    assert why.rule == "deps.unparsable" and why.blocking and "package.json" in why.message
    assert report.decision == "block"


def test_online_audit_without_pip_audit_is_not_run_with_a_finding(repo, monkeypatch):
    monkeypatch.setenv(DISABLE_ENV, "pip-audit")
    report = check_staged(repo, {"requirements.txt": "click==8.1.7\n"},
                          config={"security": {"dependencies": {"online_audit": True}}})  # fmt: skip
    assert report.gates["security.dependencies.online"] == "not run"
    assert [f.rule for f in report.findings if f.check == "security.dependencies.online"] == ["deps.audit-not-run"]
    assert report.gates["security"] == "block"


# --- empty inputs: `not run` with the reason, and no finding (there was nothing to check) ---


def test_no_python_file_means_lint_did_not_run(repo):
    report = check_staged(repo, {"notes.md": "# notes\n"})
    assert report.gates["quality.lint"] == "not run"
    assert "no Python files" in report.not_run["quality.lint"]
    assert report.gates["security.semgrep"] == "not run"  # no file in a language the rules cover
    assert report.gates["security.secrets"] == "pass"  # a text file: the secret scan ran
    assert report.decision == "pass" and report.findings == []


def test_no_dependency_change_means_the_dependency_checks_did_not_run(repo):
    report = check_staged(repo, {"calc.py": "def mul(a, b):\n    return a * b\n"})
    for check in ("security.dependencies", "security.dependencies.online", "compliance.licenses"):
        assert report.gates[check] == "not run" and "no dependency" in report.not_run[check], check
    assert report.gates["compliance"] == "not run"  # none of its checks had anything to look at
    assert report.gates["security"] == "pass"  # secrets and semgrep ran; the idle checks do not count
    assert report.gates["quality"] == "pass"  # ruff ran; no coverage figure does not count


def test_a_change_with_no_text_file_runs_no_scanner(repo):
    git(repo, "rm", "-q", "app.py")
    report = evaluate_changes(repo, staged_changeset(repo))
    for check in ("security.secrets", "security.semgrep", "quality.lint"):
        assert report.gates[check] == "not run", check
    assert report.gates["security"] == "not run" and report.gates["safety"] == "pass"
    assert report.decision == "pass" and report.findings == []


def test_secrets_with_every_file_excluded_did_not_run(repo):
    report = check_staged(repo, {"fixtures/k.txt": f"{KEY}\n"},
                          config={"security": {"secrets": {"exclude_paths": ["fixtures/*"]}}})  # fmt: skip
    assert report.gates["security.secrets"] == "not run" and "exclude_paths" in report.not_run["security.secrets"]


def test_the_text_report_says_why_a_check_did_not_run(repo, monkeypatch):
    from runner.policy.render import render_text

    monkeypatch.setenv(DISABLE_ENV, "ruff")
    text = render_text(check_staged(repo, {"notes.md": "# notes\n", "a.py": "X = 1\n"}))
    assert "quality.lint=not run" in text and "ruff is disabled" in text
    assert "not run: security.dependencies: no dependency added or changed" in text
