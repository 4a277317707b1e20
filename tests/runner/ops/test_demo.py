"""`codex-sandbox demo`: the sample repo, the offline demo model, one task through the real pipeline."""

from __future__ import annotations

import json

import pytest
from tests.runner.build.build_support import cli, codex_image, git

from runner.ops.demo import create_sample_repo, demo_script


def test_the_sample_repo_and_the_recorded_script_are_bundled(tmp_path):
    repo = create_sample_repo(tmp_path / "sample")
    assert git(repo, "ls-files").split() == [".gitignore", "README.md", "calc.py", "pyproject.toml",
                                              "tests/test_calc.py"]
    script = demo_script()
    assert script["responses"] and not any(k.startswith("_") for k in script)
    from sandbox.scripted_model.script import load_script

    assert len(load_script(script).responses) == 4  # the scripted server accepts it as is


def test_demo_refuses_a_non_empty_workspace(tmp_path, capsys):
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "keep.txt").write_text("mine")
    code, _, err = cli(capsys, "demo", "--workspace", str(tmp_path / "ws"))
    assert code == 2 and "not empty" in err
    assert (tmp_path / "ws" / "keep.txt").read_text() == "mine"


@pytest.mark.docker
def test_demo_runs_one_task_end_to_end_offline(tmp_path, capsys, monkeypatch):
    codex_image()
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # no key needed
    ws = tmp_path / "demo"
    code, out, err = cli(capsys, "--json", "demo", "--workspace", str(ws))
    assert code == 0, err
    data = json.loads(out)
    result = data["result"]
    assert result["status"] == "succeeded" and data["model"].startswith("offline demo model")
    assert f"Task-Id: {result['task_id']}" in data["commit_log"] and f"Run-Id: {result['run_id']}" in data["commit_log"]
    assert "def multiply(a: float, b: float) -> float:" in git(ws, "show", "main:calc.py")
    assert "test_multiply" in git(ws, "show", "main:tests/test_calc.py")
    assert data["gates"]["decision"] == "pass"
    assert (result["tokens_in"], result["tokens_out"], result["requests"]) == (10950, 295, 4)
