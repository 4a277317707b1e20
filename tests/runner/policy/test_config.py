"""Policy config: defaults from policies/default.yaml, merged with .codex/config.yaml, validated."""

from __future__ import annotations

import pytest

from runner.config.load import load_config
from runner.errors import InvalidInput
from runner.policy import PolicyConfig, load_policy_config


def test_defaults_have_the_four_policy_types():
    cfg = load_policy_config(None)
    assert isinstance(cfg, PolicyConfig)
    assert cfg.security.secrets.enabled and cfg.security.semgrep.enabled
    assert ".env" in cfg.safety.prohibited_paths and "MIT" in cfg.compliance.licenses.allowed
    assert cfg.quality.lint.blocking is False


def test_project_config_merges_over_defaults(repo):
    (repo / ".codex").mkdir()
    (repo / ".codex" / "config.yaml").write_text(
        "policies:\n  safety:\n    max_files: 7\n  quality:\n    coverage:\n      min_percent: 90\n"
    )
    cfg = load_policy_config(load_config(repo).config.policies)
    assert cfg.safety.max_files == 7 and cfg.quality.coverage.min_percent == 90
    assert cfg.safety.max_diff_lines == 2000  # untouched defaults stay


@pytest.mark.parametrize("section,key", [
    ({"safety": {"max_filez": 3}}, "policies.safety.max_filez"),
    ({"security": {"semgrep": {"blocking_severities": ["FATAL"]}}}, "policies.security.semgrep.blocking_severities.0"),
    ({"security": {"secrets": {"patterns": [{"id": "x", "regex": "("}]}}}, "policies.security.secrets.patterns.0.regex"),
    ({"compliance": {"licenses": {"unknown": "maybe"}}}, "policies.compliance.licenses.unknown"),
])  # fmt: skip
def test_bad_key_is_one_line_naming_it(section, key):
    with pytest.raises(InvalidInput) as info:
        load_policy_config(section)
    message = str(info.value)
    assert key in message and "\n" not in message
    assert info.value.exit_code == 2


def test_bad_config_file_exits_2_via_cli(repo, monkeypatch):
    from runner.cli.main import main

    (repo / ".codex").mkdir()
    (repo / ".codex" / "config.yaml").write_text("policies:\n  safety:\n    max_files: many\n")
    monkeypatch.chdir(repo)
    assert main(["policy", "check", "--staged"]) == 2
