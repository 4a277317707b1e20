"""One build through the whole pipeline, step by step, against a bare hardened container doing nothing.

Runs N builds (the real Codex CLI in the sandbox, two model turns from the scripted server, gates,
commit, merge) in a throwaway repo and prints the median of each step from the run manifests, the
median total, and the ratio against `run_container(["true"])` in the same image measured in the same run.
Usage: python bench/build_pipeline.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import scratch_dir

STEPS = ("worktree_s", "codex_s", "extract_s", "gates_s", "commit_s", "merge_s", "total_s")


def _repo(root: Path) -> Path:
    repo = root / "repo"
    repo.mkdir()
    for args in (["init", "-q", "-b", "main"], ["commit", "-q", "--allow-empty", "-m", "init"]):
        subprocess.run(["git", "-C", str(repo), "-c", "user.name=bench", "-c", "user.email=b@bench.invalid",
                        *args], check=True)
    return repo


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    with scratch_dir("bench-build-") as tmp:
        os.environ["XDG_STATE_HOME"] = str(Path(tmp) / "state")  # worktrees of this bench stay in tmp
        from runner.build.result import BuildEnv
        from runner.config.load import load_config
        from runner.build.commands import build_next
        from runner.state.store import Store
        from runner.state.tasks import add_task, make_task
        from sandbox.docker.container import RunSpec, run_container
        from sandbox.docker.images import require_image
        from sandbox.scripted_model.server import ScriptedModelServer

        image = require_image("codex")
        baseline = []
        for _ in range(runs):
            start = time.perf_counter()
            result = run_container(RunSpec(image=image, command=["true"]))
            baseline.append(time.perf_counter() - start)
            assert result.ok, result
        repo = _repo(Path(tmp))
        script = {"loop": True, "responses": [
            {"exec": "f=f-$(date +%s%N).txt; echo x > \"$f\""}, {"message": "wrote a file"},
        ]}
        steps: dict[str, list[float]] = {s: [] for s in STEPS}
        walls = []
        with ScriptedModelServer(script) as model:
            config = load_config(repo, environ={}, overrides={"llm": {"base_url": model.base_url}}).config
            env = BuildEnv(root=repo, config=config, api_key="bench-not-a-key")
            for i in range(runs):
                with Store.open(repo) as store:
                    add_task(store, make_task(f"bench task {i}"))
                start = time.perf_counter()
                result = build_next(env)
                walls.append(time.perf_counter() - start)
                if result is None or not result.ok:
                    raise SystemExit(f"build {i} failed: {result and result.error}")
                timings = json.loads(Path(result.manifest_path).read_text())["timings"]
                for s in STEPS:
                    steps[s].append(timings.get(s, 0.0))
    base = statistics.median(baseline)
    print(f"runs: {runs}")
    print(f"baseline (hardened container running `true`): median {base:.3f} s")
    for s in STEPS:
        print(f"  {s:<11} median {statistics.median(steps[s]):.3f} s")
    wall = statistics.median(walls)
    print(f"build next, wall clock (lock, store, gateway, Codex, gates, commit, merge): median {wall:.3f} s")
    print(f"ratio build / bare container: {wall / base:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
