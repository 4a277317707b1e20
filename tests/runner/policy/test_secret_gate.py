"""Secret scanning with the real detect-secrets on real diffs: fakes block, look-alikes pass."""

from __future__ import annotations

import pytest

from tests.runner.policy.policy_support import check_staged, commit
from tests.runner.policy.secret_corpus import BENIGN, GENERIC_BENIGN, SECRETS


def _secret_hits(report, path):
    return [f for f in report.findings if f.check == "security.secrets" and f.file == path]


def test_corpus_sizes():
    assert len(SECRETS) >= 100 and len(BENIGN) >= 100
    assert len({name for name, *_ in SECRETS}) == len(SECRETS)


@pytest.mark.parametrize("name,path,content,line", SECRETS, ids=[s[0] for s in SECRETS])
@pytest.mark.slow
def test_each_fake_secret_added_in_a_diff_is_blocked(repo, name, path, content, line):
    report = check_staged(repo, {path: content}, use_cache=False)
    hits = _secret_hits(report, path)
    assert report.decision == "block", f"{name} passed: {report.findings}"
    assert any(f.blocking and f.line == line and not f.pre_existing for f in hits), hits
    assert report.gates["security.secrets"] == "block"
    # the report never repeats the secret itself
    assert all(content.splitlines()[line - 1].strip() not in f.message for f in hits)


def test_all_fake_secrets_in_one_diff_are_each_blocked(repo):
    report = check_staged(repo, {p: c for _, p, c, _l in SECRETS}, use_cache=False)
    missed = [name for name, p, _c, line in SECRETS
              if not any(f.blocking and f.line == line for f in _secret_hits(report, p))]  # fmt: skip
    assert missed == []


def test_benign_look_alikes_stay_within_the_false_positive_budget(repo, capsys):
    """At most 2 blocking findings per 25 look-alikes; the configured patterns flag none of them
    (test_secret_formats), so what remains comes from detect-secrets' plugins."""
    report = check_staged(repo, {p: c for _, p, c in BENIGN}, use_cache=False)
    false_positives = [f for f in report.findings if f.check == "security.secrets"]
    with capsys.disabled():  # the count is part of the result: always show it
        print(f"\nbenign corpus: {len(BENIGN)} look-alikes, {len(false_positives)} false positives")
        for f in false_positives:
            print(f"  false positive: {f.file}:{f.line} {f.rule} {f.message}")
    blocking = [f for f in false_positives if f.blocking]
    assert len(blocking) * 25 <= 2 * len(BENIGN), blocking
    # hashes, ids, templates and status words never trip anything
    generic = {p for _, p, _c in GENERIC_BENIGN}
    assert [f for f in false_positives if f.file in generic] == []


def test_pre_existing_secret_is_reported_but_does_not_block(repo):
    _name, path, content, _line = SECRETS[0]
    commit(repo, {path: content}, "old secret, not this change's fault")
    report = check_staged(repo, {path: content + "\nTIMEOUT = 30\n"}, use_cache=False)
    hits = _secret_hits(report, path)
    assert hits and all(f.pre_existing and not f.blocking for f in hits)
    assert report.decision != "block"
    assert report.gates["security.secrets"] == "pass"


def test_moved_secret_line_is_pre_existing(repo):
    _name, path, content, _line = SECRETS[2]
    commit(repo, {path: content})
    lines = content.splitlines()
    moved = "\n".join([lines[0], "# moved below", "set -e", *lines[1:]]) + "\n"
    report = check_staged(repo, {path: moved}, use_cache=False)
    hits = _secret_hits(report, path)
    assert hits and all(f.pre_existing and not f.blocking for f in hits), hits


def test_new_secret_next_to_old_one_blocks(repo):
    _n, path, content, _l = SECRETS[0]
    commit(repo, {path: content})
    _n2, _p2, other, _line2 = SECRETS[7]
    report = check_staged(repo, {path: content + other}, use_cache=False)
    hits = _secret_hits(report, path)
    assert any(f.pre_existing for f in hits)
    assert any(f.blocking for f in hits)
    assert report.decision == "block"


def test_allowlist_pragma_is_not_honoured(repo):
    """A change cannot silence the scanner with detect-secrets' inline pragma."""
    _n, path, content, line = SECRETS[7]
    lines = content.splitlines()
    lines[line - 1] += "  # pragma: allowlist secret"
    report = check_staged(repo, {path: "\n".join(lines) + "\n"}, use_cache=False)
    assert report.decision == "block"


def test_configured_pattern_and_exclusions(repo):
    config = {"security": {"secrets": {"detect_secrets": False, "patterns": [
        {"id": "acme-token", "regex": r"acme_[a-z0-9]{16}", "description": "ACME token"}],
        "exclude_paths": ["vendor/*"]}}}  # fmt: skip
    token = "acme_" + "0a1b2c3d4e5f6a7b"
    report = check_staged(repo, {"app/x.py": f'T = "{token}"\n', "vendor/y.py": f'T = "{token}"\n'},
                          config=config, use_cache=False)  # fmt: skip
    hits = [f for f in report.findings if f.check == "security.secrets"]
    assert [(f.file, f.rule) for f in hits] == [("app/x.py", "secret.acme-token")]


def test_prefilter_never_hides_what_detect_secrets_finds(tmp_path):
    """Skipping files that match no plugin regex must not lose a single detect-secrets finding."""
    from detect_secrets.core.scan import scan_file
    from detect_secrets.settings import transient_settings

    from runner.config.policy import load_policy_config
    from runner.policy.secrets_scan import DS_FILTERS, _plugin_classes, prefilter

    policy = load_policy_config(None).security.secrets
    gate = prefilter(policy)
    assert gate, "the prefilter should be available with entropy plugins off"
    config = {"plugins_used": [{"name": c.__name__} for c in _plugin_classes(policy)],
              "filters_used": [{"path": p} for p in DS_FILTERS]}  # fmt: skip
    found = 0
    with transient_settings(config):
        for name, path, content, _line in SECRETS + [(n, p, c, 0) for n, p, c in BENIGN]:
            target = tmp_path / name / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
            if list(scan_file(str(target))):
                found += 1
                assert any(p.search(content) for p in gate), name
    assert found >= 20
    assert not any(p.search("def add(a, b):\n    return a + b\n") for p in gate)
    assert prefilter(policy.model_copy(update={"entropy_plugins": True})) is None
