"""`codex-sandbox init`: a commented config that parses to the defaults, `.codex/` excluded, idempotent."""

from __future__ import annotations

import subprocess

import yaml

from runner.cli.main import main
from runner.config.load import AppConfig, load_config
from runner.ops.init_repo import commented_config, init_repo


def test_init_creates_commented_config_and_exclude(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    assert main(["init"]) == 0
    config = repo / ".codex" / "config.yaml"
    text = config.read_text()
    assert all(line.startswith("#") or not line.strip() for line in text.splitlines())
    assert "# sandbox:" in text and "#     memory: 2g" in text
    assert ".codex/" in (repo / ".git" / "info" / "exclude").read_text().splitlines()
    # the commented file changes nothing: loading it gives the defaults
    assert load_config(repo).config == AppConfig()
    # git ignores .codex/
    status = subprocess.run(
        ["git", "-C", str(repo), "status", "--porcelain"], capture_output=True, text=True, check=False
    )
    assert status.stdout == ""
    capsys.readouterr()
    before = (config.read_bytes(), (repo / ".git" / "info" / "exclude").read_bytes())
    assert main(["init"]) == 0
    assert "already initialised" in capsys.readouterr().out
    assert before == (config.read_bytes(), (repo / ".git" / "info" / "exclude").read_bytes())


def test_uncommented_config_is_valid_and_equal_to_defaults():
    text = commented_config()
    body = "\n".join(
        line[2:]
        for line in text.splitlines()
        if line.startswith("# ")
        and not line[2:].lstrip().startswith("#")
        and line[2:].strip()
        and not line.startswith("# codex-sandbox")
        and not line.startswith("# Layers")
        and not line.startswith("# Uncomment")
    )
    data = yaml.safe_load(body)
    assert AppConfig.model_validate(data) == AppConfig()


def test_init_keeps_an_existing_config(repo):
    (repo / ".codex").mkdir()
    (repo / ".codex" / "config.yaml").write_text("sandbox:\n  network: none\n")
    report = init_repo(repo)
    assert report.created == [".codex/codex-sandbox.mk"] and report.excluded
    assert (repo / ".codex" / "config.yaml").read_text() == "sandbox:\n  network: none\n"


def test_make_run_in_the_users_own_repo_is_one_include_line(repo):
    import subprocess

    init_repo(repo)
    (repo / "Makefile").write_text("-include .codex/codex-sandbox.mk\n\nbuild:\n\t@echo built\n")
    usage = subprocess.run(["make", "-s", "run"], cwd=repo, capture_output=True, text=True, check=False)
    assert usage.returncode == 2 and "usage: make run TASK=" in usage.stdout
    ran = subprocess.run(["make", "-s", "run", "TASK=Fix the date parsing", "CODEX_SANDBOX=echo"], cwd=repo,
                         capture_output=True, text=True, check=False)
    assert ran.returncode == 0 and ran.stdout.strip() == "run Fix the date parsing"


def test_make_run_from_the_tools_checkout_needs_repo():
    import subprocess
    from pathlib import Path

    top = Path(__file__).resolve().parents[3]
    proc = subprocess.run(["make", "-s", "-C", str(top), "run", "TASK=x"], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 2 and "REPO=<path to your repository>" in proc.stdout


def test_init_outside_a_repo_is_exit_2(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["init"]) == 2
