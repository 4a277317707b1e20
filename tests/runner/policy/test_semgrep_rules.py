"""The project's semgrep rules: each fires on its positive lines and not on its negative ones."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from runner.config.policy import BUILTIN_RULES_DIR
from runner.policy.semgrep_runner import load_rules, rule_files
from sandbox.tools import DISABLE_ENV, require_tool
from tests.runner.policy.policy_support import check_staged

ANNOTATION = re.compile(r"(?://|#)\s*(ruleid|ok):\s*([\w\-, ]+)")
FIXTURE_EXT = (".py", ".js", ".ts")


def fixtures() -> list[Path]:
    return sorted(p for p in BUILTIN_RULES_DIR.rglob("*") if p.suffix in FIXTURE_EXT)


def expectations(path: Path) -> tuple[set[tuple[int, str]], set[tuple[int, str]]]:
    """(line, rule) pairs that must match and must not, from `# ruleid:` / `# ok:` annotations."""
    must, must_not = set(), set()
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        m = ANNOTATION.search(line)
        if m:
            for rule in (r.strip() for r in m.group(2).split(",")):
                (must if m.group(1) == "ruleid" else must_not).add((number + 1, rule))
    return must, must_not


def test_every_rule_has_positive_and_negative_cases():
    rules = {r["id"] for r in load_rules([BUILTIN_RULES_DIR]).rules}
    assert len(rules) >= 20
    langs = {lang for r in load_rules([BUILTIN_RULES_DIR]).rules for lang in r["languages"]}
    assert {"python", "javascript", "typescript"} <= langs
    pos, neg = set(), set()
    for path in fixtures():
        must, must_not = expectations(path)
        pos |= {rule for _, rule in must}
        neg |= {rule for _, rule in must_not}
    assert rules - pos == set(), "rules without a positive case"
    assert rules - neg == set(), "rules without a negative case"
    assert len(rule_files([BUILTIN_RULES_DIR])) >= 10


def test_rules_fire_through_the_engine_on_a_real_diff(repo):
    """Every fixture added in one staged diff: the engine (semgrep-core) reports exactly the annotated lines."""
    files = {f"src/{p.parent.name}/{p.name}": p.read_text() for p in fixtures()}
    report = check_staged(repo, files, use_cache=False)
    got = {(f.file, f.line, f.rule.removeprefix("semgrep.")) for f in report.findings if f.check == "security.semgrep"}
    missed, wrong = [], []
    for rel in files:
        must, must_not = expectations(BUILTIN_RULES_DIR / rel.removeprefix("src/"))
        missed += [(rel, line, rule) for line, rule in must if (rel, line, rule) not in got]
        wrong += [(rel, line, rule) for line, rule in must_not if (rel, line, rule) in got]
    assert not missed, f"rules that did not fire: {missed}"
    assert not wrong, f"rules that fired on negative lines: {wrong}"
    assert report.decision == "block"
    assert report.gates["security.semgrep"] == "block"


@pytest.mark.slow
def test_semgrep_rule_test_format_passes():
    """semgrep's own rule-test runner (`semgrep --test`) agrees, offline."""
    env = {**os.environ, "SEMGREP_ENABLE_VERSION_CHECK": "0", "SEMGREP_SEND_METRICS": "off"}
    proc = subprocess.run(
        [require_tool("semgrep"), "--test", "--metrics=off", "--disable-version-check", str(BUILTIN_RULES_DIR)],
        check=False, capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    tail = (proc.stdout + proc.stderr)[-1500:]
    assert proc.returncode == 0, tail
    assert "All tests passed" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_wrapper_fallback_finds_the_same(tmp_path):
    """The `semgrep` CLI fallback and the semgrep-core fast path agree on one fixture."""
    from runner.policy.blobs import StagedFile
    from runner.policy.semgrep_runner import _run_wrapper, run_semgrep
    from sandbox.changeset import FileChange

    src = BUILTIN_RULES_DIR / "python" / "command-injection.py"
    (tmp_path / "work").mkdir()
    tmp_path = tmp_path / "tree"
    tmp_path.mkdir()
    (tmp_path / "a.py").write_text(src.read_text())
    staged = StagedFile(change=FileChange(path="a.py", status="added"), new=src.read_bytes(), old=None,
                        binary=False, staged_path=tmp_path / "a.py")  # fmt: skip
    ruleset = load_rules([BUILTIN_RULES_DIR])
    fast = run_semgrep(tmp_path, [staged], ruleset, work=tmp_path.parent / "work")
    assert fast.engine == "semgrep-core"
    slow = _run_wrapper(tmp_path, ["a.py"], tmp_path.parent / "work" / "rules.json", 120)
    assert slow.engine == "semgrep"
    def key(result):
        return sorted((m["rule"], m["line"]) for m in result.matches.get("a.py", []))

    assert key(fast) == key(slow) and key(fast)


@pytest.mark.parametrize("bad", ["rules: [", "nothing: here"])
def test_broken_rule_file_is_one_clear_error(tmp_path, bad):
    from runner.errors import InvalidInput

    (tmp_path / "r.yaml").write_text(bad)
    with pytest.raises(InvalidInput, match="r.yaml"):
        load_rules([tmp_path])


@pytest.mark.slow
def test_engine_falls_back_to_the_semgrep_cli_without_semgrep_core(repo, monkeypatch):
    from runner.policy.semgrep_runner import semgrep_core_path

    monkeypatch.setenv(DISABLE_ENV, "semgrep-core")
    assert semgrep_core_path() is None
    report = check_staged(repo, {"run.py": "import os\n\n\ndef go(x):\n    os.system(x)\n"}, use_cache=False)
    assert [f.rule for f in report.findings if f.check == "security.semgrep"] == ["semgrep.python-os-system"]


def test_no_semgrep_at_all_fails_closed(repo, monkeypatch):
    monkeypatch.setenv(DISABLE_ENV, "semgrep")  # the wrapper and the semgrep-core its wheel ships
    report = check_staged(repo, {"clean.py": "X = 1\n"}, use_cache=False)
    assert report.gates["security.semgrep"] == "not run" and report.gates["security"] == "block"
    assert report.decision == "block" and [f.rule for f in report.blocking] == ["semgrep.not-run"]
    assert "semgrep is disabled" in report.not_run["security.semgrep"]
