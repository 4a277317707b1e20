"""Every gate is capped in time on hostile input: a 256 KB single-line file is checked in seconds, a file
semgrep gives up on is `not run` (never `pass`), and a secret inside a long line is still found."""

from __future__ import annotations

import time

import pytest

from runner.policy import semgrep_runner
from tests.runner.policy.policy_support import check_staged

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

SECRET = "ghp_" + "Ex4mpleT0ken" * 3  # a GitHub classic token shape, split so no scanner flags this file


def _one_line(unit: str, middle: str = "") -> str:
    body = unit * (131072 // len(unit))
    return f'var x = "{body}{middle}{body}";\n'  # about 256 KB on one line, `middle` half-way


@pytest.mark.parametrize("unit", ['x="aZ3+",', "https://a:b@", "password=", "'a',"])
def test_a_long_line_is_checked_in_seconds(repo, unit):
    started = time.perf_counter()
    report = check_staged(repo, {"web/bundle.min.js": _one_line(unit)}, use_cache=False)
    took = time.perf_counter() - started
    assert took < 20, (took, report.timings)  # before the caps: 25 s to 150 s
    assert report.gates["security.secrets"] in ("pass", "warn", "block")  # it ran


def test_a_secret_in_the_middle_of_a_long_line_is_still_found(repo):
    report = check_staged(repo, {"web/bundle.min.js": _one_line('x="aZ3+",', f'",token:"{SECRET}",')},
                          use_cache=False)
    hits = [f for f in report.findings if f.check == "security.secrets" and f.blocking]
    assert hits and all(f.line == 1 for f in hits), report.findings


def test_a_file_semgrep_gives_up_on_is_not_run(repo, monkeypatch):
    monkeypatch.setattr(semgrep_runner, "PER_FILE_RULE_TIMEOUT_S", 0.05)  # the same cap, made to bite
    report = check_staged(repo, {"web/bundle.min.js": _one_line('x="aZ3+",')}, use_cache=False)
    assert report.gates["security.semgrep"] == "not run"
    gave_up = [f for f in report.findings if f.check == "security.semgrep" and f.file == "web/bundle.min.js"]
    assert gave_up and gave_up[0].blocking  # a required check that did not run blocks


def test_detect_secrets_past_its_budget_is_not_run_and_the_patterns_still_block(repo, monkeypatch):
    from runner.policy import secrets_scan

    monkeypatch.setattr(secrets_scan, "DS_BUDGET_S", -1.0)  # already spent: not one file gets scanned
    report = check_staged(repo, {"app/token.py": f'TOKEN = "{SECRET}"\n'}, use_cache=False)
    assert report.gates["security.secrets"] == "not run"
    assert "budget" in report.not_run["security.secrets"]
    assert any(f.rule == "secret.github-token" or f.rule.startswith("secret.github") for f in report.findings
               if f.blocking), report.findings  # the configured patterns ran all the same
    assert report.decision == "block"
