"""The CLI contract kept by mechanism: one exit-code table, --dry-run/--wait/-v that do what they say,
help on a bare group, tables that survive a pipe. Everything through the real CLI."""

from __future__ import annotations

import importlib
import pkgutil
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.ci_support import cli_path
from tests.runner.cli.lifecycle_cli_support import cli, snapshot

from runner.cli.app import DRY_RUN_HONOURS, DRY_RUN_READS, DRY_RUN_REFUSED, build_command, leaf_commands
from runner.cli.main import main
from runner.errors import MEANINGS, SANDBOX_EXIT_CODES, ExitCode, RunnerError, exit_code_for
from sandbox import errors as sx

README = Path(__file__).resolve().parents[3] / "README.md"


# ----------------------------------------------------------------------------- one exit-code table


def readme_exit_codes() -> dict[int, str]:
    text = README.read_text()
    section = text.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\d+) \| (.+?) \|$", section, flags=re.MULTILINE)
    assert rows, "README's Exit codes section has no table"
    return {int(code): meaning for code, meaning in rows}


def _all_subclasses(cls) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub} | _all_subclasses(sub)
    return found


def _import_everything() -> None:
    """Every module of runner and sandbox, so every error class exists to be walked."""
    import runner
    import sandbox

    for pkg in (runner, sandbox):
        for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
            if info.name.endswith("__main__"):
                continue
            importlib.import_module(info.name)


def test_readme_table_is_the_code_table():
    """README → code and code → README: the same rows, the same words."""
    assert readme_exit_codes() == {int(code): meaning for code, meaning in MEANINGS.items()}
    assert set(MEANINGS) == set(ExitCode)


def test_every_error_class_maps_to_a_row_of_the_table():
    _import_everything()
    table = readme_exit_codes()
    runner_classes = _all_subclasses(RunnerError) | {RunnerError}
    sandbox_classes = _all_subclasses(sx.SandboxError) | {sx.SandboxError}
    for cls in runner_classes:
        assert isinstance(cls.exit_code, int) and int(cls.exit_code) in table, cls
    for cls in sandbox_classes:
        code = exit_code_for(cls.__new__(cls))
        assert int(code) in table, cls
    # sandbox/errors.py is listed row by row: a new class there needs a deliberate code
    declared = {obj for obj in vars(sx).values() if isinstance(obj, type) and issubclass(obj, sx.SandboxError)}
    assert declared == set(SANDBOX_EXIT_CODES)
    # and every code a command can fail with is reached by some class (table → classes)
    reached = {int(c.exit_code) for c in runner_classes} | {int(v) for v in SANDBOX_EXIT_CODES.values()}
    assert {1, 2, 3, 4, 5} <= reached


def test_one_table_for_the_build_and_the_cli():
    """The build's outcome codes and the CLI's codes are the same rows (ContainerError was 1 here, 4 there)."""
    from runner.build.result import EXIT_FOR_OUTCOME, failure_for

    assert set(EXIT_FOR_OUTCOME.values()) <= set(ExitCode)
    for exc in (sx.ContainerError("x"), sx.EngineUnavailable("x"), sx.ImageError("x"), sx.WorktreeError("x"),
                sx.BudgetExceeded("x"), sx.HostileTreeError("p", "r"), sx.MergeConflict("a", "b", [])):
        assert failure_for(exc)[2] == exit_code_for(exc), exc
    assert exit_code_for(sx.ContainerError("x")) == ExitCode.EXTERNAL_SERVICE


def test_a_repo_with_no_commit_is_exit_2_from_every_command_that_needs_one(tmp_path, monkeypatch, capsys):
    empty = tmp_path / "empty"
    subprocess.run(["git", "init", "-q", "-b", "main", str(empty)], check=True)
    monkeypatch.chdir(empty)
    for args in (["sandbox", "run", "--", "true"], ["verify", "run"], ["policy", "check", "--diff", "HEAD~1"],
                 ["--dry-run", "sandbox", "run", "--", "true"]):
        code, _out, err = cli(capsys, *args)
        assert code == 2, (args, err)
        errors = [line for line in err.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and "has no commit yet" in errors[0] and "git commit" in errors[0], (args, err)


def test_unknown_base_is_exit_2_naming_the_flag(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    code, _out, err = cli(capsys, "sandbox", "run", "--base", "nope", "--", "true")
    assert code == 2
    assert err == ("error: unknown revision 'nope' (--base): no commit, branch or tag has that name here; "
                   "see `git log --oneline` and `git branch -a`\n")
    assert not (repo / ".codex" / "runs").exists()


def test_end_of_input_at_a_prompt_is_exit_2_not_130(repo, monkeypatch, capsys):
    """`deploy prod` on a terminal asks; end of input (Ctrl-D) is no answer: exit 2, one line, nothing done."""
    import io

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.chdir(repo)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(sys, "stdin", Terminal(""))
    code, out, err = cli(capsys, "deploy", "prod", "--commit", "HEAD")
    assert "?" in out  # the question was asked
    assert code == 2, err
    assert err == ("error: no answer: input ended at a prompt (pass the flag the prompt stands for, "
                   "e.g. --approve)\n")
    from runner.state.store import Store

    with Store.open(repo) as store:
        assert store.list_runs(kind="deploy") == []


# ----------------------------------------------------------------------------- --dry-run


def test_every_command_says_how_it_treats_dry_run():
    paths = {path for path, _ in leaf_commands(build_command())}
    declared = [DRY_RUN_READS, DRY_RUN_HONOURS, set(DRY_RUN_REFUSED)]
    for path in paths:
        assert sum(path in d for d in declared) == 1, f"{path}: add it to exactly one DRY_RUN_* set in app.py"
    assert set().union(*declared) == paths, "DRY_RUN_* name commands that do not exist"


@pytest.mark.parametrize("args", [["images", "build"], ["sandbox", "gc"], ["verify", "fix"]])
def test_commands_that_cannot_honour_dry_run_refuse_it(repo, monkeypatch, capsys, args):
    monkeypatch.chdir(repo)
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent.sock")  # refused before anything is tried
    code, _out, err = cli(capsys, "--dry-run", *args)
    assert code == 2
    assert err.startswith(f"error: `{' '.join(args)}` cannot honour --dry-run (") and err.count("\n") == 1
    assert not (repo / ".codex").exists()


def test_dry_run_init_changes_nothing(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    exclude = repo / ".git" / "info" / "exclude"
    before = exclude.read_bytes() if exclude.exists() else None
    code, out, err = cli(capsys, "--dry-run", "init")
    assert code == 0, err
    assert "would create .codex/config.yaml" in out and "would add .codex/ to .git/info/exclude" in out
    assert not (repo / ".codex").exists()
    assert (exclude.read_bytes() if exclude.exists() else None) == before
    code, out, _ = cli(capsys, "--json", "--dry-run", "init")
    assert code == 0 and '"dry_run": true' in out and not (repo / ".codex").exists()
    assert cli(capsys, "init")[0] == 0 and (repo / ".codex" / "config.yaml").is_file()


def test_dry_run_sandbox_run_starts_nothing(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    code, out, err = cli(capsys, "--dry-run", "sandbox", "run", "--memory", "1g", "--", "touch", "x")
    assert code == 0, err
    assert "dry run: would run in the sandbox" in out and "['touch', 'x']" in out and "1g" in out
    assert not (repo / ".codex").exists() and not (repo / "x").exists()
    branches = subprocess.run(["git", "-C", str(repo), "branch", "--list", "codex/*"],
                              capture_output=True, text=True, check=True).stdout
    assert branches == ""


# ----------------------------------------------------------------------------- --wait


def _hold_lock(repo: Path, seconds: float) -> subprocess.Popen:
    from runner.state.lock import read_holder

    code = (f"import time; from runner.state.lock import RepoLock\n"
            f"with RepoLock({str(repo)!r}, 'held by the test'):\n    time.sleep({seconds})\n")
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 20
    while (read_holder(repo) or {}).get("command") != "held by the test":
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    return proc


@pytest.mark.parametrize("args", [["task", "add", "work"], ["verify", "run"], ["build", "next"],
                                  ["maintain", "patch", "p"]])
@pytest.mark.slow
def test_every_command_whose_lock_message_offers_wait_has_it(repo, monkeypatch, capsys, args):
    monkeypatch.chdir(repo)
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent.sock")  # whatever follows the lock fails fast
    assert cli(capsys, "task", "add", "first")[0] == 0
    holder = _hold_lock(repo, 1.5)
    try:
        code, _, err = cli(capsys, *args)
        assert code == 5 and "retry with --wait" in err, err
        started = time.monotonic()
        code, _, err = cli(capsys, *args, "--wait")
        assert code != 5, err
        assert time.monotonic() - started > 0.3 or holder.poll() is not None
    finally:
        holder.wait(timeout=30)


@pytest.mark.slow
def test_wait_says_it_is_waiting(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    assert cli(capsys, "task", "add", "first")[0] == 0
    holder = _hold_lock(repo, 1.0)
    try:
        code, _, err = cli(capsys, "--wait", "task", "add", "second")
    finally:
        holder.wait(timeout=30)
    assert code == 0, err
    assert "waiting for the repo lock held by pid" in err and "`held by the test`" in err


# ----------------------------------------------------------------------------- -v/--verbose


def test_verbose_is_debug_logging_on_stderr(repo, monkeypatch, capsys):
    import logging

    monkeypatch.chdir(repo)
    code, _, err = cli(capsys, "status")
    assert code == 0 and "debug:" not in err
    try:
        code, _, err = cli(capsys, "-v", "status")
        assert code == 0
        assert logging.getLogger("runner").isEnabledFor(logging.DEBUG)
        logging.getLogger("runner.test").debug("a debug line")
        assert "debug: runner.test: a debug line" in capsys.readouterr().err
    finally:
        cli(capsys, "status")  # back to the default levels
    assert not logging.getLogger("runner").isEnabledFor(logging.DEBUG)


@pytest.mark.docker
def test_verbose_sandbox_run_logs_its_steps_to_stderr_and_the_run_log(repo, monkeypatch, capsys):

    from tests.sandbox.sandbox_images import probe_image

    monkeypatch.chdir(repo)
    code, _out, err = cli(capsys, "-v", "sandbox", "run", "--image", probe_image(), "--", "true")
    assert code == 0, err
    assert "info: runner.build.adhoc: sandbox run" in err and "debug: runner.build.adhoc:" in err
    (run_dir,) = (repo / ".codex" / "runs" / "sandbox").iterdir()
    log = (run_dir / "runner.log").read_text()
    assert "checking out HEAD" in log and "container" in log and "ended: exit code 0" in log


def test_build_steps_are_logged_into_the_run_folder(tmp_path):
    """RunRecord's step boundaries (the build's steps) land in the run's runner.log."""
    import logging

    from runner.cli.logging_setup import configure
    from runner.build.manifest import RunRecord

    configure(verbose=1)
    try:
        rec = RunRecord(tmp_path, "T1", "R1", "implement", 1, "2025-01-01T00:00:00")
        with rec.timed("codex_s"):
            rec.artifact("prompt.md", "hi")
        rec.fail("blocked", "blocked by the policy gates", ExitCode.POLICY_VIOLATION, status="blocked")
        rec.write_manifest("2025-01-01T00:00:01")
    finally:
        configure(verbose=0)
    log = (tmp_path / "runner.log").read_text()
    for part in ("step codex_s started", "wrote prompt.md", "step codex_s done", "blocked (blocked, exit 3)",
                 "manifest written"):
        assert part in log, log
    assert logging.getLogger("runner").level == logging.INFO


# ----------------------------------------------------------------------------- help and tables


def _groups() -> list[list[str]]:
    command = build_command()
    return [[]] + [[name] for name, cmd in command.commands.items() if getattr(cmd, "commands", None)]


@pytest.mark.parametrize("group", _groups(), ids=lambda g: " ".join(g) or "(none)")
def test_a_bare_group_prints_its_whole_help(group, capsys):
    code, out, err = cli(capsys, *group)
    assert code == 2
    assert err.startswith(f"Usage: codex-sandbox {' '.join(group)}".rstrip() + " [OPTIONS] COMMAND")
    assert "\nCommands:\n" in err and len(err.splitlines()) > 5 and "error:" not in err
    code, out, err = cli(capsys, "--json", *group)
    assert code == 2 and '"exit_code": 2' in out and "missing command" in out.lower()


def test_task_list_piped_is_tab_separated_and_never_cut(repo):
    long_title = "a title longer than the terminal " + "x" * 20 + " [bold]kept[/bold] end"
    run = lambda *a: subprocess.run([cli_path(), *a], cwd=repo, capture_output=True, text=True,
                                    env={**_env(), "COLUMNS": "40"}, check=False)
    assert run("task", "add", long_title).returncode == 0
    listed = run("task", "list")
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    assert header == "id\tstatus\ttype\tprio\ttries\ttitle\tdepends on"
    cells = row.split("\t")
    assert len(cells) == 7 and cells[5] == long_title and len(cells[0]) == 26 and cells[1] == "pending"


@pytest.mark.docker
def test_sandbox_ps_piped_is_tab_separated(repo):
    from tests.sandbox.sandbox_images import probe_image

    proc = subprocess.Popen([cli_path(), "sandbox", "run", "--image", probe_image(), "--", "sleep", "20"], cwd=repo,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
    try:
        deadline = time.monotonic() + 60
        while True:
            listed = subprocess.run([cli_path(), "sandbox", "ps"], cwd=repo, capture_output=True, text=True,
                                    env={**_env(), "COLUMNS": "30"}, check=False)
            if listed.stdout.count("\n") >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        lines = listed.stdout.splitlines()
        assert lines[0] == "NAME\tSTATUS\tRUN\tKIND\tIMAGE\tOWNER PID\tCREATED", listed
        name, _status, run, kind, image, _owner, _created = lines[1].split("\t")
        assert name.startswith("codex-sandbox-") and run in name and image == probe_image() and kind == "sandbox"
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items()}


def test_snapshot_helper_is_used_for_refusals(repo, monkeypatch, capsys):
    """A refused --dry-run leaves .codex/ exactly as it was."""
    monkeypatch.chdir(repo)
    assert cli(capsys, "task", "add", "work")[0] == 0
    before = snapshot(repo)
    assert cli(capsys, "--dry-run", "verify", "fix")[0] == 2
    assert snapshot(repo) == before
    assert main(["--dry-run", "task", "add", "more"]) == 0 and snapshot(repo) == before
