"""Per-run overhead of `codex-sandbox sandbox run -- true` against a bare `docker run --rm IMG true`.

Measured alternately in one run (so engine load affects both alike); then the same sandbox run over a
20,000-file repository beside a 20-file one, once warm (the worktree pool is in use).
Targets: sandbox/bare <= 1.5 on the small repo; large/small <= 2.0.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time
from pathlib import Path

from _common import cli, make_repo, scratch_dir, tool


def timed(cmd: list[str], cwd: Path | None = None) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr.decode()[-2000:]}")
    return elapsed


def pick_image() -> str:
    for tag in ("codex-sandbox/codex:latest", "codex-sandbox/base:latest"):
        if (
            subprocess.run([tool("docker"), "image", "inspect", tag], capture_output=True, check=False).returncode
            == 0
        ):
            return tag
    raise SystemExit("no sandbox image; run `codex-sandbox images build` first")


def breakdown(repo: Path, image: str, runs: int) -> dict[str, float]:
    """Median seconds per phase of one sandbox run, in this process (no interpreter start-up)."""
    from runner.ops.init_repo import ensure_excluded
    from sandbox.docker.container import RunSpec, run_container
    from sandbox.docker.client import get_client
    from sandbox.tree.extract import extract_changes
    from sandbox.docker.labels import run_labels
    from sandbox.tree.worktree import WorktreeManager

    get_client()
    phases: dict[str, list[float]] = {"checkout": [], "container": [], "extract": [], "release": []}
    for i in range(runs + 1):
        run_id = f"bench-{os.getpid()}-{i}"
        t0 = time.perf_counter()
        ensure_excluded(repo)
        cm = WorktreeManager(repo).checkout(run_id)
        wt = cm.__enter__()
        t1 = time.perf_counter()
        run_container(
            RunSpec(image=image, command=["true"], workspace=wt.path, labels=run_labels(repo, run_id))
        )
        t2 = time.perf_counter()
        extract_changes(wt)
        t3 = time.perf_counter()
        cm.__exit__(None, None, None)
        t4 = time.perf_counter()
        if i:  # the first run warms the pool
            for name, dt in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                phases[name].append(dt)
    return {name: statistics.median(v) for name, v in phases.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=9, help="Measured runs per series (after one warm-up).")
    ap.add_argument("--image", default=None, help="Image for both (default: the codex image, else base).")
    args = ap.parse_args()
    image = args.image or pick_image()
    with scratch_dir("codex-bench-") as tmp:
        tmp_path = Path(tmp)
        os.environ["XDG_STATE_HOME"] = str(tmp_path / "state")  # keep the pool out of the user's state dir
        small = make_repo(tmp_path / "small", 20)
        large = make_repo(tmp_path / "large", 20_000)
        sandbox = [cli(), "-q", "sandbox", "run", "--image", image, "--", "true"]
        bare = [tool("docker"), "run", "--rm", image, "true"]

        for cmd, cwd in ((sandbox, small), (bare, None), (sandbox, large)):  # warm-up: pools, page cache
            timed(cmd, cwd)
        sb, br = [], []
        for _ in range(args.runs):
            sb.append(timed(sandbox, small))
            br.append(timed(bare))
        sb_med, br_med = statistics.median(sb), statistics.median(br)
        print(f"image: {image}; {args.runs} runs each, alternated")
        print(
            f"sandbox run -- true (20-file repo): median {sb_med:.3f}s  (min {min(sb):.3f}, max {max(sb):.3f})"
        )
        print(
            f"docker run --rm true (bare):        median {br_med:.3f}s  (min {min(br):.3f}, max {max(br):.3f})"
        )
        ratio = sb_med / br_med
        print(f"ratio sandbox/bare: {ratio:.2f}  (target <= 1.5: {'ok' if ratio <= 1.5 else 'MISSED'})")

        sm, lg = [], []
        for _ in range(args.runs):
            sm.append(timed(sandbox, small))
            lg.append(timed(sandbox, large))
        sm_med, lg_med = statistics.median(sm), statistics.median(lg)
        print(f"sandbox run -- true, 20-file repo:     median {sm_med:.3f}s")
        print(f"sandbox run -- true, 20,000-file repo: median {lg_med:.3f}s")
        size_ratio = lg_med / sm_med
        print(
            f"ratio large/small: {size_ratio:.2f}  (target <= 2.0: {'ok' if size_ratio <= 2.0 else 'MISSED'})"
        )

        print("in-process medians per phase (no interpreter start-up, one Docker client):")
        for name, repo in (("20-file", small), ("20,000-file", large)):
            parts = breakdown(repo, image, args.runs)
            print(
                f"  {name:12} "
                + "  ".join(f"{k} {v:.3f}s" for k, v in parts.items())
                + f"  total {sum(parts.values()):.3f}s"
            )


if __name__ == "__main__":
    main()
