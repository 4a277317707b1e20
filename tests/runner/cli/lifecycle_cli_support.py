"""Helpers for the lifecycle CLI tests: run the CLI in-process, check JSON against the published schemas."""

import hashlib
import json
from pathlib import Path

import jsonschema

from runner.cli.main import main

SCHEMAS = Path(__file__).resolve().parents[3] / "docs" / "json-schemas"


def cli(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def check_schema(name: str, text: str) -> dict:
    data = json.loads(text)
    jsonschema.validate(data, json.loads((SCHEMAS / f"{name}.json").read_text()))
    return data


def snapshot(root: Path) -> dict[str, str]:
    """Every file under .codex/ with its content hash (SQLite's -wal/-shm scratch files excluded)."""
    base = root / ".codex"
    if not base.exists():
        return {}
    out = {}
    for path in sorted(base.rglob("*")):
        if path.is_file() and not path.name.endswith(("-wal", "-shm")):
            out[str(path.relative_to(base))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out
