"""`codex-sandbox init`: a commented .codex/config.yaml and `.codex/` in .git/info/exclude (idempotent)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from pydantic import BaseModel

from runner.errors import InvalidInput

EXCLUDE_LINE = ".codex/"


class InitReport(BaseModel):
    """What init created; unchanged things are not listed."""

    root: Path
    created: list[str]
    excluded: bool
    dry_run: bool = False  # True: nothing was written; `created`/`excluded` say what would be


def git_common_dir(repo: Path) -> Path:
    if (Path(repo) / ".git").is_dir() and not (Path(repo) / ".git" / "commondir").exists():
        return Path(repo) / ".git"  # the common case, without a git process per run
    proc = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--path-format=absolute", "--git-common-dir"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise InvalidInput(f"not a git repository: {repo}")
    return Path(proc.stdout.strip())


def ensure_excluded(repo: Path, *, dry_run: bool = False) -> bool:
    """Add `.codex/` to the repo's info/exclude; True if the file changed (or would, with dry_run)."""
    exclude = git_common_dir(repo) / "info" / "exclude"
    text = exclude.read_text(encoding="utf-8") if exclude.exists() else ""
    if any(line.strip() in (EXCLUDE_LINE, "/.codex/", ".codex") for line in text.splitlines()):
        return False
    if dry_run:
        return True
    exclude.parent.mkdir(parents=True, exist_ok=True)
    sep = "" if not text or text.endswith("\n") else "\n"
    from runner.fsutil import atomic_write

    atomic_write(exclude, f"{text}{sep}{EXCLUDE_LINE}\n")
    return True


def commented_config() -> str:
    """Every config key with its default and description, all commented out."""
    from runner.config.load import AppConfig

    lines = [
        "# codex-sandbox project configuration.",
        "# Layers: defaults < ~/.codex/config.yaml < this file < CODEX_* env < flags.",
        "# Uncomment a key to change it.",
        "",
    ]
    default = AppConfig()
    _emit(default, default.model_dump(mode="json"), 0, lines)
    return "\n".join(lines) + "\n"


def _emit(value: BaseModel, data: dict, depth: int, lines: list[str]) -> None:
    pad = "  " * depth
    for name, field in type(value).model_fields.items():
        current = getattr(value, name)
        if field.description:
            lines.append(f"# {pad}# {field.description}")
        if isinstance(current, BaseModel):
            lines.append(f"# {pad}{name}:")
            _emit(current, data[name], depth + 1, lines)
        elif isinstance(current, dict) and current and all(isinstance(v, BaseModel) for v in current.values()):
            lines.append(f"# {pad}{name}:")  # named sections (deploy.environments): each one's keys
            for key, section in current.items():
                lines.append(f"# {pad}  {key}:")
                _emit(section, data[name][key], depth + 2, lines)
        else:
            _emit_value(name, data[name], pad, lines)


def _emit_value(name: str, value, pad: str, lines: list[str]) -> None:
    """`name: value` commented out: on one line when short, a list item by item, else only a count
    (a line YAML would fold onto a second, uncommented line would break the file)."""
    import yaml

    dumped = yaml.safe_dump({name: value}, default_flow_style=True, width=10_000).strip()[1:-1]
    if len(pad) + len(dumped) <= 100:
        lines.append(f"# {pad}{dumped}")
    elif isinstance(value, list) and len(value) <= 40 and not any(isinstance(v, dict | list) for v in value):
        lines.append(f"# {pad}{name}:")
        for item in value:
            scalar = yaml.safe_dump([item], default_flow_style=True, width=10_000).strip()[1:-1]
            lines.append(f"# {pad}  - {scalar}")
    else:
        lines.append(f"# {pad}# {name}: {len(value)} entries by default (`codex-sandbox config show --json` lists them)")


def init_repo(repo: Path, *, dry_run: bool = False) -> InitReport:
    """Create `.codex/config.yaml` (if missing) and exclude `.codex/` from git (with dry_run: say so only)."""
    from runner.fsutil import atomic_write

    repo = Path(repo).resolve()
    created = []
    config = repo / ".codex" / "config.yaml"
    if not config.exists():
        if not dry_run:
            atomic_write(config, commented_config())
        created.append(str(config.relative_to(repo)))
    make = repo / ".codex" / "codex-sandbox.mk"
    if not make.exists():
        if not dry_run:
            atomic_write(make, make_include())
        created.append(str(make.relative_to(repo)))
    excluded = ensure_excluded(repo, dry_run=dry_run)
    return InitReport(root=repo, created=created, excluded=excluded, dry_run=dry_run)


def make_include() -> str:
    """A make fragment giving the user's own Makefile `make run TASK=...` (one `-include` line away)."""
    import sys

    exe = Path(sys.argv[0]).resolve() if Path(sys.argv[0]).name == "codex-sandbox" else None
    cli = str(exe) if exe and exe.is_file() else "codex-sandbox"
    return (
        "# codex-sandbox targets for this repository. In your Makefile:  -include .codex/codex-sandbox.mk\n"
        f"CODEX_SANDBOX ?= {cli}\n"
        "TASK ?=\n"
        ".PHONY: run\n"
        "run:\n"
        '\t@test -n "$(TASK)" || { echo "usage: make run TASK=<task id or free text>"; exit 2; }\n'
        '\t$(CODEX_SANDBOX) run "$(TASK)"\n'
    )
