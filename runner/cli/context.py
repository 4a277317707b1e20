"""The one application object handed to every command: global options, output, config."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from runner.errors import InvalidInput

_NOTHING = object()


@dataclass
class AppContext:
    """Global options plus lazily built shared objects (console, repo root, config).

    With --json, `emit` keeps the result and runner/cli/main.py prints it once at the end (with an
    `error` member when the command then fails): stdout carries exactly one JSON document.
    """

    json: bool = False
    verbose: int = 0
    quiet: bool = False
    dry_run: bool = False
    no_color: bool = False
    wait: bool = False
    config_path: Path | None = None
    config_overrides: dict[str, Any] = field(default_factory=dict)
    result: Any = field(default=_NOTHING, repr=False)
    helping: bool = False  # --help given: click prints the help text, main prints no JSON after it

    @cached_property
    def console(self) -> Console:
        # markup off: titles, errors and model text are printed as they are ("[/x]" is not a tag)
        return Console(no_color=self.no_color, highlight=False, soft_wrap=True, markup=False)

    @cached_property
    def err_console(self) -> Console:
        return Console(stderr=True, no_color=self.no_color, highlight=False, soft_wrap=True, markup=False)

    def repo_root(self, required: bool = True) -> Path | None:
        """The git top-level of the working directory."""
        return find_repo_root(Path.cwd(), required=required)

    @cached_property
    def loaded_config(self):
        from runner.config.load import load_config

        return load_config(
            self.repo_root(required=False), config_path=self.config_path, overrides=self.config_overrides
        )

    @property
    def config(self):
        return self.loaded_config.config

    def info(self, message: str) -> None:
        """Progress and notes for humans: stderr, silent with --quiet or --json."""
        if not self.quiet and not self.json:
            self.err_console.print(message)

    def emit(self, data: Any, human: Callable[[], None] | None = None) -> None:
        """The command's result: kept for main to print as the one JSON document with --json (a second
        result replaces the first), otherwise `human` renders it now."""
        if self.json or human is None:
            if hasattr(data, "model_dump"):
                data = data.model_dump(mode="json")
            if self.json:
                self.result = data
            else:
                import json
                import sys

                sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
                sys.stdout.flush()
        else:
            human()

    @property
    def has_result(self) -> bool:
        return self.result is not _NOTHING

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[object]], *, wrap: Sequence[str] = ()) -> None:
        """Rows for humans: a Rich grid on a terminal (only the `wrap` columns wrap, the others stay whole);
        tab-separated lines, nothing cut, when piped."""
        cells = [[_cell(c) for c in row] for row in rows]
        if not self.console.is_terminal:
            out = self.console.file
            out.write("\t".join(columns) + "\n")
            for row in cells:
                out.write("\t".join(row) + "\n")
            out.flush()
            return
        from rich.table import Table

        grid = Table(box=None, pad_edge=False)
        for col in columns:
            grid.add_column(col, no_wrap=col not in wrap, overflow="fold")
        for row in cells:
            grid.add_row(*row)
        self.console.print(grid)

    def revision(self, rev: str, *, flag: str | None = None, root: Path | None = None) -> str:
        """The commit `rev` names in the repo, checked where the input enters: a repository with no
        commit, or a name git does not know, is exit 2 with the fix (never git's `fatal: ...`)."""
        from runner.cli.translate import no_commits_line, unknown_revision_line

        root = root or self.repo_root()
        proc = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"],
            capture_output=True, text=True, check=False,
        )
        if proc.returncode == 0 and proc.stdout.strip():
            return proc.stdout.strip()
        anything = subprocess.run(["git", "-C", str(root), "rev-list", "-n", "1", "--all"],
                                  capture_output=True, text=True, check=False)
        if not anything.stdout.strip():
            raise InvalidInput(no_commits_line(root))
        raise InvalidInput(unknown_revision_line(rev, flag))


def _cell(value: object) -> str:
    return " ".join(str("" if value is None else value).split())


def find_repo_root(start: Path, required: bool = True) -> Path | None:
    proc = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"], cwd=start, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0 or not proc.stdout.strip():
        if required:
            from runner.cli.translate import dubious_ownership

            line = dubious_ownership(proc.stderr)
            if line:
                raise InvalidInput(line)
            raise InvalidInput(f"not inside a git repository: {start} (cd into your project, or `git init` one)")
        return None
    return Path(proc.stdout.strip())


def get_app(ctx: typer.Context) -> AppContext:
    obj = ctx.find_root().obj
    if not isinstance(obj, AppContext):
        obj = AppContext()
        ctx.find_root().obj = obj
    return obj
