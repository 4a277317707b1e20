"""`policy check` end to end: modes, formats, exit codes, SARIF 2.1.0 validity, the pre-commit hook."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runner.cli.main import main
from tests.runner.policy.policy_support import git, write

SCHEMA = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"
BAD = {"run.py": "import os\n\n\ndef go(x):\n    os.system(x)\n", "cfg.py": 'KEY = "' + "AKIA" + "IOSFODNN7EXAMPLE" + '"\n'}


@pytest.fixture
def staged_bad(repo, monkeypatch):
    write(repo, BAD)
    git(repo, "add", "-A")
    monkeypatch.chdir(repo)
    return repo


def test_block_exits_3_and_text_lists_findings(staged_bad, capsys):
    assert main(["policy", "check", "--staged"]) == 3
    out = capsys.readouterr().out
    assert "semgrep.python-os-system" in out and "secret.aws-access-key" in out and "policy block" in out


def test_json_format(staged_bad, capsys):
    assert main(["policy", "check", "--format", "json"]) == 3
    data = json.loads(capsys.readouterr().out)
    assert data["decision"] == "block" and {f["rule"] for f in data["findings"]} >= {"semgrep.python-os-system"}
    assert main(["--json", "policy", "check"]) == 3
    captured = capsys.readouterr()
    assert json.loads(captured.out)["decision"] == "block"  # exactly one JSON document on stdout
    assert "blocked" in captured.err


def test_sarif_validates_against_the_2_1_0_schema(staged_bad, capsys):
    import jsonschema

    assert main(["policy", "check", "--format", "sarif"]) == 3
    sarif = json.loads(capsys.readouterr().out)
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft4Validator(schema).validate(sarif)
    results = sarif["runs"][0]["results"]
    assert {r["ruleId"] for r in results} >= {"semgrep.python-os-system", "secret.aws-access-key"}
    assert all(r["locations"][0]["physicalLocation"]["region"]["startLine"] >= 1 for r in results if "locations" in r)


def test_sarif_with_overrides_and_pre_existing_validates(repo, monkeypatch, capsys):
    import jsonschema

    write(repo, {"run.py": BAD["run.py"]})
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "old")
    write(repo, {"run.py": BAD["run.py"] + "\nX = 1\n", ".env": "A=1\n"})
    git(repo, "add", "-A")
    monkeypatch.chdir(repo)
    code = main(["policy", "check", "--format", "sarif", "--override", "safety.prohibited-path", "--reason", "fixture"])
    assert code == 0
    sarif = json.loads(capsys.readouterr().out)
    jsonschema.Draft4Validator(json.loads(SCHEMA.read_text())).validate(sarif)
    results = sarif["runs"][0]["results"]
    assert any(r.get("suppressions") for r in results) and any(r.get("baselineState") == "unchanged" for r in results)


def test_modes_are_exclusive_and_override_needs_reason(staged_bad):
    assert main(["policy", "check", "--staged", "--diff", "HEAD"]) == 2
    assert main(["policy", "check", "--override", "x"]) == 2
    assert main(["policy", "check", "--format", "xml"]) == 2


def test_paths_mode_and_diff_mode(repo, monkeypatch):
    write(repo, BAD)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "bad commit")
    monkeypatch.chdir(repo)
    assert main(["policy", "check", "README.md"]) == 0
    assert main(["policy", "check", "run.py"]) == 3
    assert main(["policy", "check", "--diff", "HEAD~1"]) == 3
    assert main(["policy", "check", "--diff", "HEAD"]) == 0


@pytest.mark.slow
def test_pre_commit_hook_blocks_the_commit(repo):
    """The documented hook line refuses a commit that adds a secret, and lets a clean one through."""
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\nexec codex-sandbox policy check --staged --quiet\n")
    hook.chmod(0o755)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    write(repo, {"cfg.py": BAD["cfg.py"]})
    git(repo, "add", "cfg.py")
    proc = subprocess.run(["git", "-C", str(repo), "commit", "-m", "add key"], check=False, capture_output=True, text=True, env=env)
    assert proc.returncode != 0 and "secret.aws-access-key" in proc.stdout + proc.stderr
    assert git(repo, "log", "--oneline").count("\n") == 0  # still one commit
    write(repo, {"cfg.py": "KEY = None\n"})
    git(repo, "add", "cfg.py")
    proc = subprocess.run(["git", "-C", str(repo), "commit", "-q", "-m", "clean"], check=False, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
