"""Every config value is checked where it enters (`config set`, the file, the environment) by one typed
model: a bad value is exit 2 and one line naming the key, its source and the accepted form."""

from __future__ import annotations

import json
import typing
from pathlib import Path

import pytest
import yaml

from runner.cli.main import main
from runner.config.keys import _core, env_name, leaf_keys
from runner.config.load import AppConfig

KEYS = list(leaf_keys(AppConfig))


def cli(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def invalid_for(annotation) -> str:
    """A value of the wrong kind for a field, as typed on the command line (YAML)."""
    core = _core(annotation)
    origin = typing.get_origin(core)
    if origin is typing.Literal:
        return "not-one-of-these"
    if core is bool:
        return "maybe"
    if core in (int, float):
        return "lots"
    if core is list or origin is list:
        return "{a: 1}"
    if core is dict or origin is dict:
        return "[1, 2]"
    assert core is str, f"no invalid value known for {annotation!r}: add one here"
    return ""  # every text value refuses an empty one; the format checks have their own tests below


def nested(key: str, value) -> dict:
    tree: dict = {}
    node = tree
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return tree


def refused(code: int, out: str, err: str, key: str, source: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err + out
    line = lines[0]
    named = key if not key.startswith("deploy.policies") else "deploy.policies"
    assert repr(named) in line or f"'{named}." in line, line
    assert source in line, line
    return line


@pytest.fixture
def here(repo, monkeypatch):
    monkeypatch.chdir(repo)
    return repo


def test_the_walk_covers_every_section():
    keys = {k for k, _ in KEYS}
    assert len(keys) > 90
    for key in ("sandbox.limits.memory", "sandbox.limits.log_mb", "sandbox.limits.disk_cap", "build.identity.email",
                "policies.safety.max_files", "policies.security.trust.disabled", "llm.base_url",
                "deploy.environments.staging.port", "deploy.policies", "verify.install_network"):
        assert key in keys


@pytest.mark.parametrize("key,field", KEYS, ids=[k for k, _ in KEYS])
@pytest.mark.slow
def test_every_key_refuses_a_bad_value_from_each_source(key, field, here, capsys, monkeypatch):
    raw = invalid_for(field.annotation)
    config = here / ".codex" / "config.yaml"

    code, out, err = cli(capsys, "config", "set", key, raw)
    refused(code, out, err, key, "config set")
    assert not config.exists()  # nothing written

    config.parent.mkdir(exist_ok=True)
    config.write_text(yaml.safe_dump(nested(key, yaml.safe_load(raw) if raw else raw)))
    code, out, err = cli(capsys, "config", "validate")
    refused(code, out, err, key, str(config))
    config.unlink()

    monkeypatch.setenv(env_name(key), raw)
    code, out, err = cli(capsys, "config", "validate")
    refused(code, out, err, key, env_name(key))


@pytest.mark.parametrize("key,raw,says", [
    ("sandbox.limits.memory", "lots", "512m, 2g, 1.5g"),
    ("sandbox.limits.memory", "5m", "at least 6m"),
    ("sandbox.limits.memory", "2t", "512m, 2g, 1.5g"),
    ("sandbox.limits.cpus", "0", "greater than or equal to 0.01"),
    ("sandbox.limits.cpus", "-1", "greater than or equal to 0.01"),
    ("sandbox.limits.cpus", ".inf", "finite"),
    ("sandbox.network", "host", "host is refused"),
    ("sandbox.network", "container:abc", "Docker network name"),
    ("verify.network", "host", "host is refused"),
    ("verify.install_network", "host", "host is refused"),
    ("llm.gateway_upstream_network", "none", "reach llm.base_url"),
    ("llm.base_url", "http://:8080/v1", "with a host"),
    ("llm.base_url", "ftp://example.com", "http:// or https://"),
    ("llm.base_url", "http://example.com:99999/v1", "port"),
    ("llm.base_url", "example.com/v1", "http:// or https://"),
    ("llm.api_key_env", "MY-KEY", "environment variable name"),
    ("llm.model", "two words", "one word"),
    ("llm.model", "yes", "quote it"),
    ("sandbox.pool_size", "-3", "greater than or equal to 0"),
    ("sandbox.base_image", "Not An Image", "image reference"),
    ("verify.image", "UPPER:case", "image reference"),
    ("build.integration_branch", "feature..x", "branch name"),
    ("build.identity.email", "nobody", "user@host"),
    ("build.identity.name", "a <b>", "name git accepts"),
    ("deploy.dockerfile", "/etc/passwd", "inside the repository"),
    ("deploy.compose_file", "../compose.yaml", "inside the repository"),
    ("deploy.project", "My App", "project name"),
    ("deploy.environments.staging.health_url", "health", "/health"),
    ("deploy.environments.staging.port", "70000", "less than or equal to 65535"),
    ("deploy.environments.staging.env", "{bad-name: x}", "environment variable name"),
    ("deploy.environments.staging.secrets", "[1bad]", "environment variable name"),
    ("deploy.environments.Prod.port", "8080", "environment name"),
    ("policies.quality.lint.select", "[e9]", "ruff rule code"),
    ("policies.quality.coverage.min_percent", "101", "less than or equal to 100"),
    ("policies.security.semgrep.timeout_s", ".nan", "finite"),
    ("policies.security.secrets.patterns", "[{id: x, regex: '('}]", "not a valid regex"),
])  # fmt: skip
@pytest.mark.slow
def test_formats_are_checked_with_the_accepted_form_said(key, raw, says, here, capsys):
    code, out, err = cli(capsys, "config", "set", key, raw)
    line = refused(code, out, err, key.replace(".Prod.port", ".Prod"), f"config set {key}")
    assert says in line


def test_negative_numbers_are_values_not_options(here, capsys):
    code, out, err = cli(capsys, "config", "set", "sandbox.pool_size", "-3")
    line = refused(code, out, err, "sandbox.pool_size", "config set sandbox.pool_size -3")
    assert "No such option" not in line and "greater than or equal to 0" in line
    assert cli(capsys, "config", "set", "deploy.stop_timeout_s", "-1")[0] == 2
    assert cli(capsys, "config", "set", "sandbox.pool_size", "0")[0] == 0


def test_a_typo_in_policies_fails_validate_and_set(here, capsys):
    config = here / ".codex" / "config.yaml"
    config.parent.mkdir()
    config.write_text("policies:\n  safety:\n    max_filez: 3\n")
    code, out, err = cli(capsys, "config", "validate")
    line = refused(code, out, err, "policies.safety.max_filez", str(config))
    assert "did you mean 'max_files'" in line
    config.unlink()
    code, out, err = cli(capsys, "config", "set", "policies.safety.max_filez", "3")
    assert "did you mean 'max_files'" in refused(code, out, err, "policies.safety.max_filez", "unknown config key")
    code, out, err = cli(capsys, "config", "set", "deploy.policies.safety.max_filez", "3")
    assert "max_filez" in refused(code, out, err, "deploy.policies", "config set")


def test_the_base_url_from_the_environment(here, capsys, monkeypatch):
    monkeypatch.setenv("CODEX_LLM_BASE_URL", "http://:8080/v1")
    code, out, err = cli(capsys, "config", "validate")
    line = refused(code, out, err, "llm.base_url", "env CODEX_LLM_BASE_URL")
    assert "http:// or https:// URL with a host" in line
    code, out, err = cli(capsys, "--json", "config", "validate")
    assert code == 2 and "llm.base_url" in json.loads(out)["error"]["message"]


def test_section_variables_codex_itself_sets_are_left_alone(here, capsys, monkeypatch):
    monkeypatch.setenv("CODEX_SANDBOX", "seatbelt")  # what Codex sets inside its own sandbox
    monkeypatch.setenv("CODEX_SANDBOX_NETWORK_DISABLED", "1")
    assert cli(capsys, "config", "validate")[0] == 0


@pytest.mark.parametrize("key,raw,stored", [
    ("sandbox.limits.memory", "512m", "512m"),
    ("sandbox.limits.memory", "1.5g", "1.5g"),
    ("sandbox.limits.memory", "1073741824", "1073741824"),
    ("sandbox.limits.cpus", "1.5", 1.5),
    ("sandbox.network", "my-net", "my-net"),
    ("sandbox.pool_size", "0", 0),
    ("llm.base_url", "http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1"),
    ("llm.model", "'yes'", "yes"),
    ("build.integration_branch", "release/1.2", "release/1.2"),
    ("verify.command", "pytest -q -x", "pytest -q -x"),
    ("deploy.environments.qa.port", "8080", 8080),
    ("deploy.compose_command", "[docker, compose]", ["docker", "compose"]),
    ("policies.safety.max_files", "7", 7),
    ("policies.quality.lint.select", "[E9, F401]", ["E9", "F401"]),
])  # fmt: skip
@pytest.mark.slow
def test_a_valid_value_round_trips(key, raw, stored, here, capsys):
    code, out, err = cli(capsys, "--json", "config", "set", key, raw)
    assert code == 0, err
    assert json.loads(out)["key"] == key
    code, out, err = cli(capsys, "--json", "config", "show")
    assert code == 0, err
    values = json.loads(out)["values"]
    assert values[key]["value"] == stored
    assert values[key]["source"] == str(here / ".codex" / "config.yaml")


def comments(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip().startswith("#") or " #" in line]


def test_config_set_keeps_every_comment_of_the_file_init_wrote(here, capsys):
    assert cli(capsys, "init")[0] == 0
    config = here / ".codex" / "config.yaml"
    before = config.read_text()
    assert len(before.splitlines()) > 100
    for key, raw in (("sandbox.pool_size", "4"), ("sandbox.limits.memory", "1g"), ("llm.model", "m2"),
                     ("sandbox.pool_size", "5"), ("policies.safety.max_files", "9")):
        assert cli(capsys, "config", "set", key, raw)[0] == 0
    after = config.read_text()
    assert after.startswith(before)  # the commented template is kept verbatim, the keys follow it
    assert comments(before) == [c for c in comments(after) if c in comments(before)]
    data = yaml.safe_load(after)
    assert data == {"sandbox": {"pool_size": 5, "limits": {"memory": "1g"}}, "llm": {"model": "m2"},
                    "policies": {"safety": {"max_files": 9}}}


def test_config_set_keeps_comments_order_and_indentation_of_a_hand_written_file(here, capsys):
    config = here / ".codex" / "config.yaml"
    config.parent.mkdir()
    text = (
        "# team settings\n"
        "sandbox:\n"
        "    # keep two warm\n"
        "    pool_size: 2   # per repo\n"
        "    network: none\n"
        "policies:\n"
        "    safety:\n"
        "        prohibited_paths:\n"
        "          - .env    # never\n"
        "          - secrets/**\n"
        "\n"
        "# the model\n"
        "llm:\n"
        "    model: 'gpt-5.5'\n"
    )
    config.write_text(text)
    assert cli(capsys, "config", "set", "sandbox.pool_size", "3")[0] == 0
    assert cli(capsys, "config", "set", "llm.mode", "replay")[0] == 0
    after = config.read_text()
    assert after == text.replace("pool_size: 2   # per repo", "pool_size: 3   # per repo") + "    mode: replay\n"


def test_config_set_refuses_a_file_that_is_not_yaml_and_leaves_it(here, capsys):
    config = here / ".codex" / "config.yaml"
    config.parent.mkdir()
    config.write_text("sandbox: [\n")
    code, _, err = cli(capsys, "config", "set", "sandbox.pool_size", "3")
    assert code == 2 and "not valid YAML" in err
    assert config.read_text() == "sandbox: [\n"


def test_a_bad_value_in_another_layer_is_named_with_its_file(here, capsys):
    user = Path.home() / ".codex" / "config.yaml"
    user.parent.mkdir(parents=True)
    user.write_text("sandbox:\n  limits:\n    memory: lots\n")
    code, out, err = cli(capsys, "config", "show")
    refused(code, out, err, "sandbox.limits.memory", str(user))


@pytest.mark.parametrize("command", [
    ["build", "next"], ["sandbox", "run", "--", "true"], ["verify", "run"], ["deploy", "staging"],
])  # fmt: skip
def test_commands_that_spend_check_the_config_first(command, here, capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-config-first-00000000000000000000")
    assert cli(capsys, "task", "add", "a task to build")[0] == 0
    config = here / ".codex" / "config.yaml"
    config.write_text("sandbox:\n  limits:\n    memory: lots\n")
    code, out, err = cli(capsys, *command)
    line = refused(code, out, err, "sandbox.limits.memory", str(config))
    assert "512m, 2g, 1.5g" in line
    code, out, _ = cli(capsys, "--json", "task", "list")
    config.unlink()
    [task] = json.loads(out)["tasks"]
    assert task["status"] == "pending" and task["attempts"] == 0  # no attempt spent
    assert not (here / ".codex" / "runs").exists() or not any((here / ".codex" / "runs").iterdir())


def test_the_installed_entry_point_says_one_line(here):
    import os
    import subprocess

    from tests.ci_support import cli_path

    env = {**os.environ, "CODEX_SANDBOX_LIMITS_MEMORY": "lots"}
    proc = subprocess.run([cli_path(), "config", "validate"], cwd=here, env=env, capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "error: config key 'sandbox.limits.memory' = 'lots' (env CODEX_SANDBOX_LIMITS_MEMORY): must be a memory "
        "size Docker accepts: bytes (1073741824) or a number with k, m or g (512m, 2g, 1.5g), at least 6m"
    ]
