"""The one application object handed to every command: global options, output, config."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from runner.errors import InvalidInput


@dataclass
class AppContext:
    """Global options plus lazily built shared objects (console, repo root, config)."""

    json: bool = False
    verbose: int = 0
    quiet: bool = False
    dry_run: bool = False
    no_color: bool = False
    config_path: Path | None = None
    config_overrides: dict[str, Any] = field(default_factory=dict)

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
        from runner.config import load_config

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
        """Print `data` as JSON with --json, otherwise call `human` to render it."""
        if self.json or human is None:
            if hasattr(data, "model_dump"):
                data = data.model_dump(mode="json")
            sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
            sys.stdout.flush()
        else:
            human()


def find_repo_root(start: Path, required: bool = True) -> Path | None:
    proc = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"], cwd=start, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0 or not proc.stdout.strip():
        if required:
            raise InvalidInput(f"not inside a git repository: {start}")
        return None
    return Path(proc.stdout.strip())


def get_app(ctx: typer.Context) -> AppContext:
    obj = ctx.find_root().obj
    if not isinstance(obj, AppContext):
        obj = AppContext()
        ctx.find_root().obj = obj
    return obj
