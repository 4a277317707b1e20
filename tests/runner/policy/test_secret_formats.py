"""The secret pattern catalogue: each fake is caught by its own rule, and no rule flags a look-alike."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from runner.policy.blobs import StagedFile
from runner.config.policy import load_policy_config
from runner.policy.secrets_scan import _fold, keywords, pattern_scan
from sandbox.changeset import FileChange
from tests.runner.policy.policy_support import check_staged
from tests.runner.policy.secret_corpus import BENIGN, EXPECTED_RULE, IMITATES, SECRETS

POLICY = load_policy_config(None).security.secrets
RULES = [p.id for p in POLICY.patterns]
WITH_RULE = [s for s in SECRETS if s[0] in EXPECTED_RULE]


def _hits(path: str, content: str) -> list[dict]:
    change = FileChange(path=path, status="added")
    staged = StagedFile(change=change, new=content.encode(), old=None, binary=False)
    return [h for h in pattern_scan(staged, POLICY) if not h["placeholder"]]


def test_every_pattern_has_a_fake_and_a_look_alike():
    assert len(RULES) == len(set(RULES))
    assert sorted(set(RULES) - set(EXPECTED_RULE.values())) == []
    assert sorted(set(RULES) - set(IMITATES.values())) == []
    assert set(EXPECTED_RULE.values()) | set(IMITATES.values()) <= set(RULES)
    assert len(BENIGN) >= len(RULES) and len({name for name, *_ in BENIGN}) == len(BENIGN)


@pytest.mark.parametrize("name,path,content,line", WITH_RULE, ids=[s[0] for s in WITH_RULE])
def test_each_format_is_caught_by_its_own_rule(name, path, content, line):
    hits = _hits(path, content)
    rule = f"secret.{EXPECTED_RULE[name]}"
    assert any(h["line"] == line and h["rule"] == rule for h in hits), hits
    # the reported hint is a prefix of the value, never the value itself
    assert all(h["raw"] not in h["hint"] for h in hits)


@pytest.mark.parametrize("name,path,content", BENIGN, ids=[b[0] for b in BENIGN])
def test_no_pattern_flags_a_look_alike(name, path, content):
    assert _hits(path, content) == []


def test_patterns_alone_block_every_format_in_one_diff(repo):
    """Through the engine with detect-secrets off: the catalogue does not lean on its plugins."""
    config = {"security": {"secrets": {"detect_secrets": False}}}
    files = {path: content for name, path, content, _line in WITH_RULE}
    report = check_staged(repo, files, config=config, use_cache=False)
    blocked = {(f.file, f.line) for f in report.findings if f.check == "security.secrets" and f.blocking}
    missed = [name for name, path, _content, line in WITH_RULE if (path, line) not in blocked]
    assert missed == []
    assert report.gates["security.secrets"] == "block"


def test_keywords_never_skip_a_match():
    """The per-file keyword prefilter is exact: every line a pattern matches holds one of its keywords."""
    lines = [ln for _n, _p, c, *_ in SECRETS + [(*b, 0) for b in BENIGN] for ln in c.splitlines()]
    for p in POLICY.patterns:
        keys, rx = keywords(p.regex), re.compile(p.regex)
        for ln in lines:
            if keys is not None and rx.search(ln):
                assert any(k in _fold(ln) for k in keys), (p.id, ln)
    assert keywords(r"\bshp(?:at|ca)_[a-f0-9]{32}") == ("shp",)
    assert keywords(r"(?i:heroku|jira)[\w.-]{0,9}") == ("heroku", "jira")
    assert keywords(r"\bSK[0-9a-f]{32}\b") is None  # too short to be worth a substring test


def test_no_catastrophic_backtracking():
    """Long hostile lines (near-misses of every shape) stay fast on every pattern."""
    lines = [
        "A" * 20000, "a-" * 10000, "Ab1_" * 5000, '"auth": "' + "QUJD" * 5000, "https://" + "a:b" * 6000,
        "curl " + "-u " * 6000, "datadog_key_" * 2000 + "=", "M" + "a" * 26 + "." * 3000, "1" * 20000 + ":AA",
        "sv=2020-01-01&" + "x" * 20000, "Server=a;" + "b" * 20000, "-----BEGIN " + " " * 20000,
        "http://a:bbb" * 2000, "aws secret " * 2000, "aws_secret=" + " " * 20000, "a:" * 10000,
        "Authorization: Basic" + " " * 20000, "machine" + " " * 20000, "AccountKey" + " " * 20000,
    ]  # fmt: skip
    slow = []
    for p in POLICY.patterns:
        rx, start = re.compile(p.regex), time.perf_counter()
        for ln in lines:
            rx.search(ln)
        # a linear pattern takes some 50 ms over all of them, a quadratic one (`[a-z]*://`) seconds
        if time.perf_counter() - start > 1.5:
            slow.append(p.id)
    assert slow == []


def test_the_corpus_sources_hold_no_matching_literal():
    """The fakes are assembled at runtime: the committed files themselves pass the patterns."""
    here = Path(__file__).parent
    for source in ("secret_corpus.py", "test_secret_formats.py", "test_secret_gate.py"):
        assert _hits(source, (here / source).read_text()) == [], source
