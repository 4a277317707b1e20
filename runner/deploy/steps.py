"""Deploy steps (migrations, smoke tests) in ephemeral sandbox containers, each with only its own secrets."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Callable

from runner.config.deploy import StepConfig
from runner.state.secrets import redact
from sandbox.docker.labels import run_labels
from sandbox.settings import LimitsConfig


def extract_tree(context_tar: bytes, dest: Path) -> Path:
    """Unpack a `git archive` tar (our own, from git objects) into `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(context_tar)) as tar:
        tar.extractall(dest, filter="data")
    return dest


def run_step(
    step: StepConfig,
    *,
    repo: Path,
    run_id: str,
    tree: Path,
    image: str,
    env: dict[str, str],
    secrets: dict[str, str],
    network: str,
    log_path: Path,
    on_line: Callable[[str], None] | None = None,
) -> dict:
    """Run one step; its log is written with every secret value redacted. Returns a summary dict."""
    from sandbox.docker.container import RunSpec, run_container

    log_path.parent.mkdir(parents=True, exist_ok=True)
    values = list(secrets.values())
    with open(log_path, "w", encoding="utf-8") as log:

        def sink(text: str) -> None:
            clean = redact(text, values)
            log.write(clean)
            log.flush()
            if on_line is not None:
                on_line(clean)

        spec = RunSpec(
            image=image,
            command=["sh", "-c", step.command],
            workspace=tree,
            env={**env, **secrets},
            network=network,
            limits=LimitsConfig(timeout_s=step.timeout_s),
            labels=run_labels(repo, run_id, kind="deploy"),
        )
        result = run_container(spec, on_output=sink)
    return {
        "name": step.name,
        "phase": step.phase,
        "ok": result.ok,
        "exit_code": result.exit_code,
        "reason": result.reason if hasattr(result, "reason") else str(result.exit_code),
        "duration_s": result.duration_s,
        "secrets": list(secrets),
        "log": str(log_path),
    }
