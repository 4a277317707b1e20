"""The JSON schemas of every --json output, generated from the pydantic models into docs/json-schemas/.

Every command prints exactly one JSON document with --json: its result, its result with an `error`
member when it failed after producing one, or error.json's `{"error": ...}` alone. COMMAND_SCHEMAS names
each command's schema; `python -m runner.schemas` rewrites them; tests fail when they are out of date,
when a command has none, and when a command's output does not match it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "docs" / "json-schemas"

# command path -> schema file stem (commands with the same output share one)
COMMAND_SCHEMAS = {
    "init": "init", "doctor": "doctor", "status": "status", "history": "history", "reset": "reset",
    "scaffold": "build-task", "run": "build-task", "demo": "demo",
    "images build": "images-build", "images list": "images-list",
    "sandbox run": "sandbox-run", "sandbox ps": "sandbox-ps", "sandbox gc": "sandbox-gc",
    "policy check": "policy-check",
    "plan generate": "plan-generate", "plan show": "plan-show", "plan approve": "plan-approve",
    "plan revise": "plan-revise",
    "task add": "task-add", "task list": "task-list",
    "build next": "build-next", "build task": "build-task", "build all": "build-all",
    "verify run": "verify-run", "verify report": "verify-report", "verify fix": "verify-fix",
    "deploy staging": "deploy", "deploy prod": "deploy", "deploy to": "deploy", "deploy rollback": "deploy-rollback",
    "observe status": "observe-status", "observe logs": "observe-logs", "observe metrics": "observe-metrics",
    "maintain upgrade": "maintain", "maintain patch": "maintain", "maintain refactor": "maintain",
    "secrets set": "secrets-change", "secrets rm": "secrets-change", "secrets list": "secrets-list",
    "config show": "config-show", "config set": "config-set", "config validate": "config-validate",
}


def output_models() -> dict[str, Any]:
    """File stem -> the model (or union of models) of the output it describes."""
    from runner import outputs as o
    from runner.build.result import BuildResult
    from runner.deploy.base import DeployResult
    from runner.ops.init_repo import InitReport
    from runner.plan.versions import PlanView
    from runner.policy.models import PolicyReport
    from runner.verify.report import VerifyReport
    from runner.state.views import (
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
    from sandbox.gc import GcReport

    return {
        "status": StatusReport, "history": History, "plan-show": PlanView, "plan-generate": PlanView | o.DryRun,
        "plan-approve": PlanView | o.DryRun, "plan-revise": PlanView | o.DryRun,
        "task-list": TaskList, "task-add": TaskAdded, "config-show": ConfigShow,
        "config-validate": ConfigValidation, "config-set": ConfigSet, "reset": ResetResult,
        "error": ErrorOutput,
        "init": InitReport, "doctor": o.DoctorOutput,
        "build-task": BuildResult | o.BuildDryRun,
        "build-next": BuildResult | o.NothingToBuild | o.BuildDryRun,
        "build-all": o.BuildAll | o.BuildDryRun,
        "demo": o.DemoOutput | o.DemoDryRun,
        "images-build": dict[str, str], "images-list": list[o.ImageRow],
        "sandbox-run": o.SandboxRunOutput | o.DryRun, "sandbox-ps": o.SandboxList, "sandbox-gc": GcReport,
        "policy-check": PolicyReport | o.Sarif,
        "verify-run": VerifyReport | o.DryRun, "verify-report": VerifyReport, "verify-fix": o.TaskAndState,
        "deploy": DeployResult | o.DeployBlockedOutput | o.DryRun,
        "deploy-rollback": DeployResult | o.RollbackDryRun,
        "observe-status": o.ObserveStatus, "observe-logs": o.ObserveLogs, "observe-metrics": o.Metrics,
        "maintain": o.TaskAndState | o.MaintainDryRun,
        "secrets-change": o.SecretAction, "secrets-list": o.SecretNames,
    }


def schema_for(name: str) -> dict:
    from pydantic import TypeAdapter

    schema = TypeAdapter(output_models()[name]).json_schema()
    if name != "error":
        schema = _allow_error(schema)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"codex-sandbox/{name}.json"
    return schema


def _allow_error(schema: dict) -> dict:
    """A command that fails after producing its result adds `"error": {"message", "exit_code"}` to it
    (a non-object result is wrapped as `{"result": ..., "error": ...}`)."""
    from runner.state.views import ErrorOutput

    defs = schema.setdefault("$defs", {})
    defs["CommandError"] = ErrorOutput.Inner.model_json_schema()
    ref = {"$ref": "#/$defs/CommandError"}
    branches = schema.get("anyOf") or [schema]
    objects = []
    for branch in branches:
        target = defs[branch["$ref"].rsplit("/", 1)[-1]] if "$ref" in branch else branch
        if target.get("type") == "object":
            objects.append(target)
    if not objects:  # a list or a scalar: the failure wraps it
        body = {k: v for k, v in schema.items() if k != "$defs"}
        return {"$defs": defs, "anyOf": [body, {"type": "object", "properties": {"result": body, "error": ref},
                                                "required": ["error"]}]}
    for target in objects:
        props = target.setdefault("properties", {})
        props["error"] = {"anyOf": [props["error"], ref]} if "error" in props else ref
    return schema


def schema_name(command_path: str) -> str:
    return COMMAND_SCHEMAS[command_path]


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
