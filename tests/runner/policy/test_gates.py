"""Safety, dependency, licence, quality gates and the aggregation, on real diffs in temp repos."""

from __future__ import annotations

import json

import pytest

from runner.errors import PolicyViolation
from runner.policy import Override, evaluate_changes
from runner.policy.gitchanges import diff_changeset, paths_changeset, staged_changeset
from tests.runner.policy.policy_support import check_staged, commit, git

CLEAN_PY = "def mul(a, b):\n    return a * b\n"


def rules_of(report, check=None):
    return {f.rule for f in report.findings if check is None or f.check == check}


def test_clean_change_passes(repo):
    report = check_staged(repo, {"calc.py": CLEAN_PY})
    assert report.decision == "pass", report.findings
    assert report.gates["security"] == "pass" and report.gates["safety"] == "pass"
    assert report.gates["security.dependencies.online"] == "not run"  # never "pass" without a network audit


def test_empty_change_passes(repo):
    report = evaluate_changes(repo, staged_changeset(repo))
    assert report.decision == "pass" and report.findings == []


def test_prohibited_paths_block(repo):
    report = check_staged(repo, {".env": "A=1\n", "secrets/token.txt": "x\n", "certs/server.pem": "x\n",
                                 "home/.ssh/id_rsa": "x\n", "ok/notes.txt": "fine\n"})  # fmt: skip
    blocked = {f.file for f in report.findings if f.rule == "safety.prohibited-path" and f.blocking}
    assert blocked == {".env", "secrets/token.txt", "certs/server.pem", "home/.ssh/id_rsa"}
    assert report.decision == "block"


def test_size_limits_block(repo):
    config = {"safety": {"max_files": 3, "max_diff_lines": 20}}
    files = {f"m{i}.txt": "line\n" * 6 for i in range(4)}
    report = check_staged(repo, files, config=config)
    assert {"safety.max-files", "safety.max-diff-lines"} <= rules_of(report, "safety")
    assert report.decision == "block"


def test_changes_outside_target_files_block(repo):
    report = check_staged(repo, {"src/a.py": CLEAN_PY, "src/pkg/b.py": CLEAN_PY, "other.py": CLEAN_PY},
                          target_files=["src/a.py", "src/pkg/"])  # fmt: skip
    outside = [f.file for f in report.findings if f.rule == "safety.outside-target-files"]
    assert outside == ["other.py"]
    report2 = evaluate_changes(repo, staged_changeset(repo), target_files=None)
    assert "safety.outside-target-files" not in rules_of(report2)


def test_binary_file_blocks_unless_allowed(repo):
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64)
    report = check_staged(repo, {"img/logo.png": png})
    assert "safety.binary-file" in rules_of(report) and report.decision == "block"
    report2 = evaluate_changes(repo, staged_changeset(repo), config={"safety": {"allow_binary": True}})
    assert "safety.binary-file" not in rules_of(report2)


def test_known_vulnerable_and_unpinned_dependencies(repo):
    report = check_staged(repo, {
        "requirements.txt": "requests==2.19.0\nflask\nclick==8.1.7\n",
        "package.json": '{"dependencies": {"lodash": "4.17.15", "express": "^4.18.0"}}\n',
    })  # fmt: skip
    vuln = {(f.file, f.line) for f in report.findings if f.rule == "deps.known-vulnerable"}
    assert vuln == {("requirements.txt", 1), ("package.json", 1)}
    unpinned = {f.message.split()[0] for f in report.findings if f.rule == "deps.unpinned"}
    assert unpinned == {"flask", "express"}
    assert report.gates["security.dependencies"] == "block"


def test_only_changed_dependencies_are_audited(repo):
    commit(repo, {"requirements.txt": "requests==2.19.0\n"})
    report = check_staged(repo, {"requirements.txt": "requests==2.19.0\nclick==8.1.7\n"})
    assert "deps.known-vulnerable" not in rules_of(report)  # already there: not this change's fault


def test_licences_of_new_dependencies(repo):
    report = check_staged(repo, {"requirements.txt": "psycopg2==2.9.9\nrequests==2.32.3\nzz-unknown-pkg==1.0\n"})
    by_rule = {f.rule: f for f in report.findings if f.gate == "compliance"}
    assert "psycopg2" in by_rule["license.not-allowed"].message and by_rule["license.not-allowed"].blocking
    assert "zz-unknown-pkg" in by_rule["license.unknown"].message and not by_rule["license.unknown"].blocking
    assert report.gates["compliance.licenses"] == "block"


def test_installed_package_metadata_is_a_licence_source(repo):
    report = check_staged(repo, {"requirements.txt": "tenacity==8.2.3\n"})  # installed here, not in the table
    assert not [f for f in report.findings if f.gate == "compliance"]
    assert report.gates["compliance.licenses"] == "pass"


def test_lint_only_added_lines_count(repo):
    commit(repo, {"old.py": "import os\n\n\ndef f():\n    return 1\n"})
    report = check_staged(repo, {"old.py": "import os\nimport sys\n\n\ndef f():\n    return 1\n"},
                          config={"quality": {"lint": {"blocking": True}}})  # fmt: skip
    lint = [f for f in report.findings if f.check == "quality.lint"]
    assert {(f.line, f.pre_existing, f.blocking) for f in lint} == {(1, True, False), (2, False, True)}
    assert report.decision == "block"


def test_lint_warns_by_default(repo):
    report = check_staged(repo, {"w.py": "import os\n"})
    assert report.decision == "warn" and report.gates["quality.lint"] == "warn"


@pytest.mark.parametrize("coverage,blocking,status", [(None, False, "not run"), (91.0, False, "pass"),
                                                      (50.0, False, "warn"), (50.0, True, "block")])  # fmt: skip
def test_coverage_threshold(repo, coverage, blocking, status):
    report = check_staged(repo, {"c.py": CLEAN_PY}, coverage=coverage,
                          config={"quality": {"coverage": {"blocking": blocking, "min_percent": 80}}})  # fmt: skip
    assert report.gates["quality.coverage"] == status


def test_pre_existing_semgrep_finding_does_not_block(repo):
    commit(repo, {"run.py": "import os\n\n\ndef go(x):\n    os.system(x)\n"})
    report = check_staged(repo, {"run.py": "import os\n\n\ndef go(x):\n    os.system(x)\n\n\nVERSION = 2\n"})
    sg = [f for f in report.findings if f.check == "security.semgrep"]
    assert sg and all(f.pre_existing and not f.blocking for f in sg)
    assert report.decision != "block"


def test_override_passes_one_blocking_rule_for_a_human(repo):
    files = {"run.py": "import os\n\n\ndef go(x):\n    os.system(x)\n", ".env": "A=1\n"}
    report = check_staged(repo, files, overrides=[Override(rule="semgrep.python-os-system", reason="vetted", by="Ann")],
                          actor="human")  # fmt: skip
    assert [f.rule for f in report.findings if f.overridden] == ["semgrep.python-os-system"]
    assert report.decision == "block"  # the .env is still blocked
    assert report.overrides[0]["by"] == "Ann" and report.overrides[0]["matched"] == ["run.py:5"]
    report2 = evaluate_changes(repo, staged_changeset(repo), actor="human", overrides=[
        {"rule": "semgrep.python-os-system:run.py:5", "reason": "vetted", "by": "Ann"},
        {"rule": "safety.prohibited-path:.env", "reason": "fixture", "by": "Ann"}])  # fmt: skip
    assert report2.decision == "warn" and len(report2.overrides) == 2


def test_model_driven_run_can_never_override(repo):
    with pytest.raises(PolicyViolation, match="never override"):
        check_staged(repo, {".env": "A=1\n"}, overrides=[Override(rule="safety.prohibited-path", reason="pls")])


def test_override_is_audited_in_the_store_and_a_manifest(repo):
    from runner.state.store import Store

    (repo / ".codex").mkdir()
    report = check_staged(repo, {".env": "A=1\n"}, actor="human",
                          overrides=[Override(rule="safety.prohibited-path", reason="local fixture", by="Ann <a@x>")])  # fmt: skip
    assert report.decision == "warn"
    with Store.open(repo) as store:
        events = store.audit_events(event="policy.override")
    assert len(events) == 1
    details = events[0]["details"] if isinstance(events[0], dict) else events[0].details
    assert details["reason"] == "local fixture" and details["by"] == "Ann <a@x>"
    manifests = list((repo / ".codex" / "runs" / "policy-check").glob("*/manifest.json"))
    assert len(manifests) == 1 and "local fixture" in manifests[0].read_text()


def test_diff_and_paths_changesets(repo):
    base = git(repo, "rev-parse", "HEAD")
    commit(repo, {"a.py": CLEAN_PY, "app.py": "def add(a, b):\n    return a + b + 0\n"})
    cs = diff_changeset(repo, base)
    assert {(f.path, f.status) for f in cs.files} == {("a.py", "added"), ("app.py", "modified")}
    assert cs.lines_added == 3 and cs.lines_removed == 1
    whole = paths_changeset(repo, [str(repo / "app.py")])
    assert [f.status for f in whole.files] == ["added"] and whole.files[0].lines_added == 2


def test_blobs_come_from_objects_not_the_working_tree(repo):
    """The staged blob is scanned even when the working tree file differs afterwards."""
    key = "AKIA" + "IOSFODNN7" + "EXAMPLE"
    (repo / "k.py").write_text(f'K = "{key}"\n')
    git(repo, "add", "k.py")
    (repo / "k.py").write_text("K = None\n")  # working tree is clean, the index is not
    report = evaluate_changes(repo, staged_changeset(repo))
    assert report.decision == "block"


def test_cache_reuses_results(repo):
    (repo / ".codex").mkdir()
    files = {"run.py": "import os\n\n\ndef go(x):\n    os.system(x)\n"}
    first = check_staged(repo, files)
    assert list((repo / ".codex" / "cache" / "policy").glob("*.json"))
    second = evaluate_changes(repo, staged_changeset(repo))
    assert [f.model_dump() for f in first.findings] == [f.model_dump() for f in second.findings]


def test_online_audit_without_a_way_to_run_is_not_run(repo, monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no pip-audit on PATH
    report = check_staged(repo, {"requirements.txt": "click==8.1.7\n"},
                          config={"security": {"dependencies": {"online_audit": True}}})  # fmt: skip
    assert report.gates["security.dependencies.online"] == "not run"
    assert any("pip-audit is not installed" in n for n in report.notes)


def test_broken_extra_rule_is_reported_and_the_others_still_run(repo):
    bad = "rules:\n  - id: broken\n    languages: [python]\n    severity: ERROR\n    message: x\n    pattern: 'os.system(('\n"
    commit(repo, {"rules/bad.yaml": bad})
    report = check_staged(repo, {"run.py": "import os\n\n\ndef go(x):\n    os.system(x)\n"},
                          config={"security": {"semgrep": {"rules": ["rules"]}}}, use_cache=False)  # fmt: skip
    assert "semgrep.python-os-system" in rules_of(report)
    assert any("Invalid pattern" in n for n in report.notes)


def test_evaluate_range_gates_a_branch_before_a_merge(repo):
    from runner.policy import evaluate_range

    base = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "-b", "feature")
    commit(repo, {"run.py": "import os\n\n\ndef go(x):\n    os.system(x)\n"})
    report = evaluate_range(repo, base, "feature")
    assert report.decision == "block" and "semgrep.python-os-system" in rules_of(report)
    assert evaluate_range(repo, "feature", "feature").decision == "pass"


def test_cli_takes_coverage_from_the_last_verify_report_of_head(repo, monkeypatch, capsys):
    from runner.cli.main import main
    from runner.verify.report import VerifyReport, runs_dir, save

    head = git(repo, "rev-parse", "HEAD")
    report = VerifyReport(run_id="01VERIFY", commit=head, passed=True, exit_code=0, command="pytest",
                          image="img", ecosystem="python", coverage_percent=42.0)  # fmt: skip
    save(report, runs_dir(repo) / report.run_id)
    (repo / "x.py").write_text(CLEAN_PY)
    git(repo, "add", "x.py")
    monkeypatch.chdir(repo)
    assert main(["--json", "policy", "check"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["gates"]["quality.coverage"] == "warn"
    assert any(f["rule"] == "coverage.below-minimum" for f in out["findings"])
