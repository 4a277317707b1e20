"""maintain: upgrade/patch/refactor tasks in the DAG; OBSERVING → MAINTAINING with a plan, no move without."""

from __future__ import annotations

import json

from runner.cli.main import main
from runner.state.models import PlanVersion
from runner.state.store import Store


def test_maintain_adds_tasks_without_plan(repo, monkeypatch, capsys):
    (repo / "requirements.txt").write_text("iniconfig\n")
    monkeypatch.chdir(repo)
    assert main(["--json", "maintain", "upgrade"]) == 0
    task = json.loads(capsys.readouterr().out)["task"]
    assert task["type"] == "upgrade" and task["target_files"] == ["requirements.txt"]
    assert main(["--json", "maintain", "patch", "Handle empty input in add()"]) == 0
    assert json.loads(capsys.readouterr().out)["task"]["title"] == "Patch: Handle empty input in add()"
    assert main(["maintain", "refactor", ""]) == 2
    with Store.open(repo) as store:
        assert sorted(t.type for t in store.list_tasks()) == ["patch", "upgrade"]
        assert all(t.status == "pending" for t in store.list_tasks())
        assert store.lifecycle_state() == "IDLE"


def test_maintain_moves_observing_to_maintaining(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    with Store.open(repo) as store:
        store.insert_plan(PlanVersion(version=1, status="approved"))
        store.set_lifecycle_state("OBSERVING", "test")
    assert main(["--json", "maintain", "refactor", "Split app.py"]) == 0
    assert json.loads(capsys.readouterr().out)["lifecycle"] == "MAINTAINING"
    with Store.open(repo) as store:
        store.set_lifecycle_state("BUILDING", "test")
    assert main(["maintain", "patch", "x"]) == 5  # not allowed while building
