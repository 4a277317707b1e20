"""Dependencies installed once per (image, dependency specs) hash, in a cache the tests mount read-only.

Python: `pip download` on the host (fetch=host; HTTPS from containers fails on machines with TLS
interception), then an offline `pip install --no-index --target` step in a network-less container.
On a normal machine fetch=container lets the install step alone reach the index. The test container
never gets network.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

from runner.errors import ExternalServiceError
from runner.verify.detect import Detected

# `pip install` in the image, into the deps dir the test run puts on its path
PIP_INSTALL = ["python3", "-m", "pip", "install"]
PIP_INTO_DEPS = ["--target", "/workspace/deps", "--no-warn-script-location", "-r", "/workspace/requirements.txt"]


def cache_root() -> Path:
    """Per-user cache shared by every repo (entries are content-addressed)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path(os.environ.get("HOME", "~")).expanduser() / ".cache")
    return Path(base) / "codex-sandbox" / "verify-deps"


def cache_key(detected: Detected, image_id: str, tree: Path) -> str:
    h = hashlib.sha256()
    h.update(
        json.dumps(
            {"image": image_id, "eco": detected.ecosystem, "reqs": sorted(detected.requirements)}
        ).encode()
    )
    if detected.ecosystem == "node":
        for name in detected.dep_files:
            h.update(name.encode() + b"\0" + (Path(tree) / name).read_bytes() + b"\0")
    return h.hexdigest()[:24]


def needs_install(detected: Detected) -> bool:
    return (
        bool(detected.requirements)
        if detected.ecosystem == "python"
        else "package.json" in detected.dep_files
    )


def ensure_deps(
    detected: Detected,
    *,
    tree: Path,
    image: str,
    image_id: str,
    fetch: str,
    install_network: str,
    labels: dict[str, str],
    log_path: Path | None = None,
    on_output: Callable[[str], None] | None = None,
) -> tuple[Path | None, bool]:
    """(the cached dependency dir or None, whether it was installed now)."""
    if not needs_install(detected):
        return None, False
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    key = cache_key(detected, image_id, tree)
    dest = root / key
    if (dest / ".complete").is_file():
        return dest / "deps", False
    with open(root / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two verifies of the same deps install once
        if (dest / ".complete").is_file():
            return dest / "deps", False
        work = root / f"{key}.tmp-{os.getpid()}"
        shutil.rmtree(work, ignore_errors=True)
        (work / "deps").mkdir(parents=True)
        try:
            _install(detected, work, tree, image, fetch, install_network, labels, log_path, on_output)
            (work / "wheels").exists() and shutil.rmtree(work / "wheels")
            (work / ".complete").write_text(
                json.dumps({"image": image_id, "requirements": detected.requirements})
            )
            shutil.rmtree(dest, ignore_errors=True)
            os.replace(work, dest)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return dest / "deps", True


def _install(
    detected,
    work: Path,
    tree: Path,
    image: str,
    fetch: str,
    install_network: str,
    labels,
    log_path,
    on_output,
) -> None:
    from sandbox.docker.container import RunSpec, run_container

    network = "none"
    if detected.ecosystem == "python":
        (work / "requirements.txt").write_text("\n".join(detected.requirements) + "\n")
        if fetch == "host":
            _host_download(work / "requirements.txt", work / "wheels")
            command = [*PIP_INSTALL, "--no-index", "--find-links", "/workspace/wheels", *PIP_INTO_DEPS]
        else:
            network = install_network
            command = [*PIP_INSTALL, *PIP_INTO_DEPS]
    else:
        for name in detected.dep_files:
            shutil.copyfile(Path(tree) / name, work / name)
        network = install_network
        ci = "npm ci" if any(f != "package.json" for f in detected.dep_files) else "npm install"
        command = [
            "sh",
            "-c",
            f"{ci} --ignore-scripts --no-audit --no-fund && mv node_modules deps/node_modules",
        ]
    spec = RunSpec(
        image=image,
        command=command,
        workspace=work,
        network=network,
        labels=labels,
        log_path=log_path,
        env={"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_CACHE_DIR": "1"},
    )
    result = run_container(spec, on_output=on_output)
    if not result.ok:
        raise ExternalServiceError(
            f"installing the test dependencies failed ({_reason(result)}); see {log_path}"
        )


def _host_download(requirements: Path, wheels: Path) -> None:
    """`pip download` with the host's interpreter (same CPython minor and platform as the image here)."""
    wheels.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--disable-pip-version-check",
            "--quiet",
            "--only-binary=:all:",
            "-d",
            str(wheels),
            "-r",
            str(requirements),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        tail = " ".join(proc.stderr.strip().splitlines()[-2:])[:300]
        raise ExternalServiceError(f"downloading the test dependencies failed: {tail}")


def _reason(result) -> str:
    return getattr(result, "reason", None) or f"exit code {result.exit_code}"
