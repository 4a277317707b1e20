"""The JSON schemas of every --json output, generated from the pydantic models into docs/json-schemas/.

`python -m runner.schemas` rewrites them; a test fails when they are out of date.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "docs" / "json-schemas"


def output_models() -> dict[str, type]:
    """File stem -> model of the command output it describes."""
    from runner.plans import PlanView
    from runner.views import (
        ConfigSet,
        ConfigShow,
        ConfigValidation,
        ErrorOutput,
        History,
        ResetResult,
        StatusReport,
        TaskAdded,
        TaskList,
    )

    return {
        "status": StatusReport, "history": History, "plan-show": PlanView, "plan-generate": PlanView,
        "plan-approve": PlanView, "plan-revise": PlanView,
        "task-list": TaskList, "task-add": TaskAdded, "config-show": ConfigShow,
        "config-validate": ConfigValidation, "config-set": ConfigSet, "reset": ResetResult,
        "error": ErrorOutput,
    }


def schema_for(name: str) -> dict:
    model = output_models()[name]
    schema = model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"codex-sandbox/{name}.json"
    return schema


def render(name: str) -> str:
    return json.dumps(schema_for(name), indent=2, sort_keys=True) + "\n"


def write_all(directory: Path = SCHEMA_DIR) -> list[Path]:
    from runner.fsutil import atomic_write

    written = []
    for name in output_models():
        path = directory / f"{name}.json"
        atomic_write(path, render(name))
        written.append(path)
    return written


if __name__ == "__main__":
    for p in write_all(Path(sys.argv[1]) if len(sys.argv) > 1 else SCHEMA_DIR):
        print(p)
