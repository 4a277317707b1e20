"""The deploy gate's cost: a first deploy (the whole tree, cold and warm cache), one new commit, and an
unchanged commit (prod after staging), on a clone of this repository.

    python bench/deploy_gate.py [REPO]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def timed(fn):
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def main() -> None:
    from runner.deploy.gate import run_gate
    from runner.policy.gitchanges import EMPTY_TREE

    source = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT
    with tempfile.TemporaryDirectory(prefix="bench-deploy-gate-") as tmp:
        repo = Path(tmp) / "repo"
        subprocess.run(["git", "clone", "-q", str(source), str(repo)], check=True)
        (repo / ".codex").mkdir()  # the engine's result cache lives in .codex/cache
        files = len(subprocess.run(["git", "-C", str(repo), "ls-files"], capture_output=True, text=True,
                                   check=True).stdout.split())  # fmt: skip
        cold, report = timed(lambda: run_gate(repo, "HEAD", EMPTY_TREE))
        warm, _ = timed(lambda: run_gate(repo, "HEAD", EMPTY_TREE))
        one, one_report = timed(lambda: run_gate(repo, "HEAD", "HEAD~1"))
        same, _ = timed(lambda: run_gate(repo, "HEAD", "HEAD"))
    print(f"tree: {files} files; first-deploy decision: {report.summary()}")
    print(f"first deploy, cold cache : {cold:6.2f} s")
    print(f"first deploy, warm cache : {warm:6.2f} s  ({cold / warm:.1f}x faster)")
    print(f"one new commit           : {one:6.2f} s  ({one_report.summary()})")
    print(f"unchanged (prod after staging): {same:6.2f} s")


if __name__ == "__main__":
    main()
