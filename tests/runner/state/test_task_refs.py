"""Task references through the CLI: an id that matches nothing is an error, an ambiguous prefix lists the candidates."""

from __future__ import annotations

import json

from tests.runner.build.build_support import add_task, cli, db_rows

from runner.state.store import Store


def _two_tasks(capsys) -> list[str]:
    return [add_task(capsys, "Add greet()"), add_task(capsys, "Add sub()")]


def test_run_with_an_id_that_matches_nothing_is_an_error_not_a_title(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    _two_tasks(capsys)
    ref = "01ZZZZZZZZZZZZZZZZZZZZZZZZ"
    code, out, err = cli(capsys, "run", ref)
    assert code == 2, err
    assert ref in err and "no task matches" in err and "Traceback" not in err
    assert db_rows(repo, "SELECT COUNT(*) FROM tasks WHERE title = ?", ref) == [(0,)]
    assert db_rows(repo, "SELECT COUNT(*) FROM runs") == [(0,)]
    # --dry-run says the same, and under --json the one document is the error
    code, out, _ = cli(capsys, "--json", "run", ref)
    assert code == 2 and ref in json.loads(out)["error"]["message"]


def test_an_ambiguous_prefix_lists_the_candidates(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    first, second = _two_tasks(capsys)
    assert first[:4] == second[:4]  # the ULID's time prefix: the same for about 12 days
    for args in (("build", "task", "01"), ("--dry-run", "build", "task", "01"), ("run", first[:4])):
        code, _, err = cli(capsys, *args)
        assert code == 2, (args, err)
        assert "ambiguous" in err and "matches 2 tasks" in err, err
        assert first in err and second in err and "Add greet()" in err and "Add sub()" in err
    assert db_rows(repo, "SELECT status, attempts FROM tasks") == [("pending", 0), ("pending", 0)]


def test_build_task_with_an_unknown_reference_names_it(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    _two_tasks(capsys)
    code, _, err = cli(capsys, "build", "task", "7QQQ")
    assert code == 2 and "no task matches '7QQQ'" in err and "task list" in err


def test_a_unique_suffix_or_prefix_still_names_its_task(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    first, second = _two_tasks(capsys)
    with Store.open(repo) as store:
        from runner.state.tasks import resolve_task

        assert resolve_task(store, first[-8:].lower()).id == first
        assert resolve_task(store, second).id == second
    code, out, err = cli(capsys, "--json", "--dry-run", "build", "task", second[-8:])
    assert code == 0, err
    assert second in json.loads(out)["task"]


def test_free_text_is_still_free_text(repo, monkeypatch, capsys):
    """Words are not ids: `run` takes them as the description of a new ad-hoc task."""
    monkeypatch.chdir(repo)
    _two_tasks(capsys)
    for text in ("Refactor", "Add a --verbose flag", "2fa"):
        code, out, err = cli(capsys, "--json", "--dry-run", "run", text)
        assert code == 0, (text, err)
        assert json.loads(out)["task"].startswith("new ad-hoc task"), text
