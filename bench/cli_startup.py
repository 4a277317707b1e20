"""CLI start-up time: `codex-sandbox --help` and `codex-sandbox status` vs a bare `python -c pass`.

Target: under 0.3 s each. Prints the median of N runs, the figure minus the interpreter's own start,
and which heavy modules (openai, docker, semgrep, git, httpx) got imported (should be none).
Usage: python bench/cli_startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import cli

TARGET_S = 0.3
HEAVY = ("openai", "docker", "semgrep", "git", "httpx", "detect_secrets", "cryptography", "aiohttp")


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.decode()[-300:]}")
    return elapsed


def heavy_imports(args: list[str], cwd: Path, env: dict[str, str]) -> list[str]:
    code = (
        "import sys; from runner.cli.main import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        f"print(','.join(sorted(m for m in {HEAVY!r} if m in sys.modules)), file=sys.stderr)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""
    return [m for m in last.split(",") if m]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    ns = parser.parse_args()
    entry = [cli()]
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        repo.mkdir()
        env = {**os.environ, "HOME": tmp, "XDG_STATE_HOME": f"{tmp}/state"}
        subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
        subprocess.run(
            entry + ["task", "add", "warm-up task"],
            cwd=repo,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        cases = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "codex-sandbox --help": entry + ["--help"],
            "codex-sandbox status": entry + ["status"],
        }
        results: dict[str, float] = {}
        for _ in range(2):  # warm the page cache
            for cmd in cases.values():
                timed(cmd, repo, env)
        samples: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(ns.runs):  # interleaved, so machine load hits every case alike
            for name, cmd in cases.items():
                samples[name].append(timed(cmd, repo, env))
        for name, values in samples.items():
            results[name] = statistics.median(values)
        base = results["python -c pass"]
        print(f"{'command':<24} {'median s':>9} {'min s':>7} {'minus python':>13} {'x python':>9}  target")
        ok = True
        for name, value in results.items():
            low = min(samples[name])
            verdict = ""
            if name != "python -c pass":
                passed = value < TARGET_S
                ok &= passed
                verdict = f"{'ok' if passed else 'OVER'} (< {TARGET_S} s)"
            print(
                f"{name:<24} {value:>9.3f} {low:>7.3f} {value - base:>13.3f} {value / base:>9.1f}  {verdict}"
            )
        for args in (["--help"], ["status"]):
            loaded = heavy_imports(args, repo, env)
            print(f"heavy modules imported by {' '.join(args)}: {', '.join(loaded) or 'none'}")
            ok &= not loaded
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
