"""Symlink checking cost against the link count: links built to be costly (longest targets, chains through
other links) vs the same number of plain short links, extracted in the same run. Linear means the
per-link time stays flat as the count grows."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import make_repo  # noqa: E402

from sandbox.tree.extract import extract_changes  # noqa: E402
from sandbox.tree.worktree import WorktreeManager  # noqa: E402


def plant(t: Path, count: int, costly: bool) -> None:
    (t / "d").mkdir()
    (t / "d" / "f.txt").write_text("f\n")
    for i in range(count):
        prev = f"l{i - 1}" if costly and i % 30 else "d"  # chains of 30 (the kernel follows at most 40)
        (t / f"l{i}").symlink_to(prev + "/." * 2000 if costly else prev)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["XDG_STATE_HOME"] = str(Path(tmp) / "state")
        repo = make_repo(Path(tmp) / "repo", 20)
        manager = WorktreeManager(repo, pool_size=0)
        print(f"{'links':>6} {'costly s':>9} {'plain s':>8} {'ratio':>6} {'costly ms/link':>15}")
        first = None
        for count in (100, 200, 400, 800):
            took = {}
            for costly in (True, False):
                with manager.checkout(f"b{count}{costly}") as wt:
                    plant(wt.path, count, costly)
                    started = time.perf_counter()
                    extract_changes(wt)
                    took[costly] = time.perf_counter() - started
            per_link = took[True] / count * 1000
            first = first or per_link
            print(f"{count:>6} {took[True]:>9.3f} {took[False]:>8.3f} {took[True] / took[False]:>5.1f}x "
                  f"{per_link:>15.2f}")
        print(f"per-link cost at 800 links vs 100: {per_link / first:.2f}x (1.0 = linear)")


if __name__ == "__main__":
    main()
