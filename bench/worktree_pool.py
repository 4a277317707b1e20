"""Host-side cost of one run's worktree (checkout, extract, reset) for a 20-file and a 20,000-file repo.

No engine needed: the "run" edits one file in the tree, as a container would. Measured warm (the pool
tree exists), alternating small and large; also the cold creation and a fresh checkout baseline
(`git worktree add`, a full checkout per run) for comparison. The end-to-end target (a warm
20,000-file sandbox run costs at most 2x a 20-file one) is measured by bench/sandbox_overhead.py.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from _common import make_repo


def one_run(mgr, run_id: str) -> float:
    from sandbox.tree.extract import extract_changes

    t0 = time.perf_counter()
    with mgr.checkout(run_id) as wt:
        (wt.path / "pkg000" / "mod00000.py").write_text(f"VALUE = '{run_id}'\n")
        cs = extract_changes(wt)
        assert [f.path for f in cs.files] == ["pkg000/mod00000.py"], cs.files
    return time.perf_counter() - t0


def fresh_checkout(repo: Path, where: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(["git", "-C", str(repo), "worktree", "add", "-q", "--detach", str(where)], check=True)
    subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(where)], check=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--large", type=int, default=20_000)
    args = ap.parse_args()
    from sandbox.tree.worktree import WorktreeManager

    tmp = Path(tempfile.mkdtemp(prefix="bench-pool-"))
    os.environ["XDG_STATE_HOME"] = str(tmp / "state")
    try:
        small = make_repo(tmp / "small", 20)
        large = make_repo(tmp / "large", args.large)
        mgrs = {"small": WorktreeManager(small, pool_size=1), "large": WorktreeManager(large, pool_size=1)}
        cold = {name: one_run(m, "cold") for name, m in mgrs.items()}
        times: dict[str, list[float]] = {"small": [], "large": []}
        for i in range(args.runs):
            for name, m in mgrs.items():
                times[name].append(one_run(m, f"r{i}"))
        med = {name: statistics.median(v) for name, v in times.items()}
        fresh = statistics.median(fresh_checkout(large, tmp / f"fresh{i}") for i in range(3))
        print(
            f"cold pool creation:   small {cold['small']:.3f}s   large ({args.large} files) {cold['large']:.3f}s"
        )
        print(f"warm run (median of {args.runs}): small {med['small']:.3f}s   large {med['large']:.3f}s")
        print(
            f"host-side cost added by {args.large} files: {med['large'] - med['small']:.3f}s per run "
            "(the large/small <= 2.0 target is for a whole sandbox run: bench/sandbox_overhead.py)"
        )
        print(
            f"baseline, fresh `git worktree add`+remove of the large repo: {fresh:.3f}s "
            f"({fresh / med['large']:.1f}x the warm pooled run)"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
