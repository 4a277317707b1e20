"""Wall time of `verify run` on a fixture project: first run (installs deps), second run (deps cached),
against the same pytest run directly on the host plus a bare container start.

Target: second run <= 1.5 x (host pytest + bare `docker run --rm <image> true`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CALC = "def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a * b\n"
TESTS = """import iniconfig
import pytest

from calc import add, mul


@pytest.mark.parametrize("n", range(40))
def test_add(n):
    assert add(n, 1) == n + 1


@pytest.mark.parametrize("n", range(40))
def test_mul(n):
    assert mul(n, 2) == 2 * n


def test_dependency():
    assert iniconfig.IniConfig
"""


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def make_project(base: Path) -> Path:
    repo = base / "project"
    (repo / "tests").mkdir(parents=True)
    (repo / "calc.py").write_text(CALC)
    (repo / "tests" / "test_calc.py").write_text(TESTS)
    (repo / "requirements.txt").write_text("iniconfig==2.0.0\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(
        repo,
        "-c",
        "user.name=bench",
        "-c",
        "user.email=bench@example.invalid",
        "commit",
        "-q",
        "-m",
        "fixture",
    )
    return repo


def timed(fn):
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-verify-") as tmp:
        base = Path(tmp)
        os.environ["XDG_CACHE_HOME"] = str(base / "cache")  # a cold dependency cache for the first run
        os.environ["XDG_STATE_HOME"] = str(base / "state")
        repo = make_project(base)

        from runner.config.load import load_config
        from runner.verify.run import run_verify
        from sandbox.docker.client import get_client

        config = load_config(None, overrides={"verify": {"coverage": False}}).config
        image = config.verify.image or "codex-sandbox/python:latest"
        get_client().containers.run(image, ["true"], remove=True)  # warm the engine's image cache
        bare, _ = timed(lambda: get_client().containers.run(image, ["true"], remove=True))
        host_cmd = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--junitxml={base}/host.xml",
        ]
        host, proc = timed(lambda: subprocess.run(host_cmd, cwd=repo, capture_output=True, text=True, check=False))
        if proc.returncode != 0:
            print(proc.stdout[-500:], proc.stderr[-500:])
            return 1
        first, r1 = timed(lambda: run_verify(repo, config))
        second, r2 = timed(lambda: run_verify(repo, config))
        assert r1.passed and r2.passed, (r1.lines(), r2.lines())
        assert r1.deps_installed and not r2.deps_installed, "the second run reinstalled the dependencies"
        baseline = host + bare
        print(f"tests: {r2.total}")
        print(f"host pytest:            {host:6.2f} s")
        print(f"bare container start:   {bare:6.2f} s")
        print(f"verify run, first:      {first:6.2f} s  (installs deps: {r1.deps_installed})")
        print(f"verify run, second:     {second:6.2f} s  (deps cached: {r2.deps_cached})")
        ratio = second / baseline
        print(f"second / (host + bare): {ratio:6.2f}x  (target <= 1.5x) {'OK' if ratio <= 1.5 else 'MISSED'}")
        print(f"first / second:         {first / second:6.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
