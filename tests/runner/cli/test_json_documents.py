"""--json: exactly one JSON document on stdout from every command, success or failure, matching the
command's published schema (docs/json-schemas/) or, for a failure before any result, error.json."""

from __future__ import annotations

import json
import subprocess

import jsonschema
import pytest
from tests.runner.cli.lifecycle_cli_support import cli

from runner.cli.app import build_command, leaf_commands
from runner.schemas import COMMAND_SCHEMAS, SCHEMA_DIR, output_models, render

# A failing situation for every command: (arguments after the command path, where it runs).
# where: "outside" (a directory that is no git repository), "repo" (a fresh repo with one commit).
# DOCKER_HOST points at a socket that does not exist in every case: no engine can be reached.
FAILING: dict[str, tuple[list[str], str]] = {
    "init": ([], "outside"),
    "doctor": ([], "repo"),  # the engine check fails: the report, with the error in it
    "status": ([], "outside"),
    "history": (["--since", "yesterday-ish"], "repo"),
    "reset": ([], "repo"),  # IDLE is not FAILED: a state error
    "scaffold": ([], "outside"),
    "run": (["01ZZZZZZZZZZZZZZZZZZZZZZZZ"], "outside"),
    "demo": (["--workspace", "{nonempty}"], "outside"),
    "images build": (["--kind", "nope"], "outside"),
    "images list": ([], "outside"),  # engine unreachable
    "sandbox run": (["--base", "nope", "--", "true"], "repo"),
    "sandbox ps": ([], "repo"),
    "sandbox gc": ([], "repo"),
    "policy check": (["--diff", "nonexistent"], "repo"),
    "plan generate": (["missing-prd.md"], "repo"),
    "plan show": ([], "outside"),
    "plan approve": ([], "repo"),  # no plan to approve
    "plan revise": (["more tests"], "repo"),
    "task add": (["x", "--type", "dance"], "repo"),
    "task list": (["--status", "bogus"], "repo"),
    "build next": ([], "outside"),
    "build task": (["01ZZZZZZZZZZZZZZZZZZZZZZZZ"], "repo"),
    "build all": ([], "outside"),
    "verify run": (["--commit", "nope"], "repo"),
    "verify report": ([], "repo"),  # no verify run yet
    "verify fix": ([], "repo"),
    "deploy staging": ([], "repo"),  # no plan, no verified commit
    "deploy prod": (["--commit", "HEAD"], "repo"),  # needs --approve under --json
    "deploy to": (["qa"], "repo"),  # no such environment
    "deploy rollback": (["staging"], "repo"),
    "observe status": ([], "repo"),
    "observe logs": (["--follow"], "repo"),  # a stream has no JSON form
    "observe metrics": (["--serve", "0"], "repo"),
    "maintain upgrade": ([], "outside"),
    "maintain patch": (["p"], "outside"),
    "maintain refactor": (["r"], "outside"),
    "secrets set": (["NAME"], "repo"),  # no master password
    "secrets list": ([], "repo"),
    "secrets rm": (["NAME"], "repo"),
    "config show": ([], "badconfig"),
    "config set": (["sandbox.pool_sise", "3"], "repo"),
    "config validate": ([], "badconfig"),
}


def commands() -> list[str]:
    return [path for path, _ in leaf_commands(build_command())]


def one_document(out: str):
    """stdout holds exactly one JSON document (and nothing else but whitespace)."""
    decoder = json.JSONDecoder()
    text = out.strip()
    assert text, "nothing on stdout"
    doc, end = decoder.raw_decode(text)
    assert text[end:].strip() == "", f"more than one document on stdout: {text[end:][:200]!r}"
    return doc


def schema(name: str) -> dict:
    return json.loads((SCHEMA_DIR / f"{name}.json").read_text())


def check(path: str, doc, code: int) -> None:
    """A failure's document: error.json alone, or the command's result with the error member in it."""
    if code == 0:
        assert "error" not in doc or not isinstance(doc.get("error"), dict), doc
        jsonschema.validate(doc, schema(COMMAND_SCHEMAS[path]))
        return
    assert isinstance(doc, dict) and doc["error"]["exit_code"] == code, doc
    assert "\n" not in doc["error"]["message"] and doc["error"]["message"]
    if set(doc) == {"error"}:
        jsonschema.validate(doc, schema("error"))
    else:
        jsonschema.validate(doc, schema(COMMAND_SCHEMAS[path]))


def test_every_command_has_a_schema_and_a_failing_case():
    paths = set(commands())
    assert set(COMMAND_SCHEMAS) == paths, "name the schema of every command in runner/schemas.py"
    assert set(FAILING) == paths, "give every command a failing case here"
    assert {*COMMAND_SCHEMAS.values(), "error"} == set(output_models())
    for name in output_models():
        assert (SCHEMA_DIR / f"{name}.json").read_text() == render(name), f"run python -m runner.schemas ({name})"
        jsonschema.Draft202012Validator.check_schema(schema(name))


@pytest.fixture
def places(tmp_path, repo, monkeypatch):
    from sandbox.docker.client import get_client

    outside = tmp_path / "outside"
    outside.mkdir()
    bad = tmp_path / "badconfig"
    subprocess.run(["git", "init", "-q", str(bad)], check=True)
    (bad / ".codex").mkdir()
    (bad / ".codex" / "config.yaml").write_text("sandbox:\n  pool_size: many\n")
    nonempty = tmp_path / "nonempty"
    nonempty.mkdir()
    (nonempty / "file.txt").write_text("taken\n")
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent.sock")
    monkeypatch.delenv("CODEX_MASTER_PASSWORD", raising=False)
    get_client.cache_clear()
    yield {"outside": outside, "repo": repo, "badconfig": bad, "nonempty": nonempty}
    get_client.cache_clear()


@pytest.mark.parametrize("path", sorted(FAILING))
@pytest.mark.slow
def test_every_command_fails_with_one_json_document(path, places, monkeypatch, capsys):
    args, where = FAILING[path]
    args = [a.format(nonempty=places["nonempty"]) for a in args]
    monkeypatch.chdir(places[where])
    code, out, err = cli(capsys, "--json", *path.split(), *args)
    assert code != 0, (out, err)
    doc = one_document(out)
    check(path, doc, code)
    assert "Traceback" not in err
    error_lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(error_lines) <= 1, err


def test_a_result_then_a_failure_is_one_document(places, monkeypatch, capsys):
    """`doctor` produces its report, then fails: the report carries the error member."""
    monkeypatch.chdir(places["repo"])
    code, out, _err = cli(capsys, "--json", "doctor")
    doc = one_document(out)
    assert code == 1 and doc["ok"] is False and doc["checks"] and doc["error"]["exit_code"] == 1
    check("doctor", doc, code)


def test_success_documents_match_their_schemas(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent.sock")
    runs = [
        ("init", []), ("status", []), ("task add", ["write tests"]), ("task list", []), ("history", []),
        ("plan show", []), ("config show", []), ("config validate", []), ("observe metrics", []),
        ("policy check", []), ("config set", ["sandbox.pool_size", "3"]),
        ("sandbox run", ["--", "true"]),  # with --dry-run below
        ("init", []),
    ]
    for path, args in runs:
        extra = ["--dry-run"] if path == "sandbox run" else []
        code, out, err = cli(capsys, "--json", *extra, *path.split(), *args)
        assert code == 0, (path, err)
        check(path, one_document(out), code)


def test_observe_metrics_json_has_the_families_and_the_text_stays(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    code, out, _ = cli(capsys, "--json", "observe", "metrics")
    doc = one_document(out)
    names = {f["name"] for f in doc["families"]}
    assert {"llm_tokens_used", "deployment_success_rate", "task_duration_seconds"} <= names
    rate = next(f for f in doc["families"] if f["name"] == "deployment_success_rate")
    assert rate["type"] == "gauge" and rate["samples"][0]["value"] is None  # NaN (no deploys) is null
    code, out, _ = cli(capsys, "observe", "metrics")
    assert code == 0 and "# TYPE llm_tokens_used" in out and "llm_tokens_used_total{direction=\"input\"}" in out


@pytest.mark.docker
def test_a_failing_sandbox_command_is_one_document(repo, monkeypatch, capsys):
    """The old behaviour: the result object, then an error object. Now: the result with the error in it."""
    from tests.sandbox.sandbox_images import probe_image

    monkeypatch.chdir(repo)
    code, out, err = cli(capsys, "--json", "sandbox", "run", "--image", probe_image(), "--", "false")
    assert code == 1
    doc = one_document(out)
    assert doc["result"]["exit_code"] == 1 and doc["error"]["exit_code"] == 1
    assert "command failed: exit code 1" in doc["error"]["message"]
    check("sandbox run", doc, code)
    assert err.count("error: ") == 1


@pytest.mark.docker
def test_sandbox_ps_and_images_list_documents(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    for path in ("sandbox ps", "images list"):
        code, out, err = cli(capsys, "--json", *path.split())
        assert code == 0, err
        check(path, one_document(out), code)


def test_help_under_json_is_the_help_alone(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    code, out, _ = cli(capsys, "--json", "status", "--help")
    assert code == 0 and out.startswith("Usage: codex-sandbox status") and "{" not in out


def test_outputs_that_are_not_json_refuse_json(repo, monkeypatch, capsys):
    """A stream, a server, raw XML: no JSON form, so --json with them is exit 2 and the error document."""
    monkeypatch.chdir(repo)
    for args in (["observe", "logs", "--follow"], ["observe", "metrics", "--serve", "0"],
                 ["verify", "report", "--junit", "-"]):
        code, out, err = cli(capsys, "--json", *args)
        assert code == 2, (args, err)
        assert set(one_document(out)) == {"error"} and "--json" in err
