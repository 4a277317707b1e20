"""Wall time of the whole policy check on a 20-file/500-line diff and a 1-file/10-line diff,
against the same scanners run naively (their own CLIs) over the whole repo.

    python bench/gates.py [--repeat 3]

The repo is a clone of this project (a real tree of a few hundred files); the diffs are staged
in it. Every Python file holds one `API_KEY = os.environ.get(...)` line, so detect-secrets is imported
and run (its prefilter cannot skip those files). "engine" is evaluate_changes in a fresh process
(imports included), "cli" is the whole
`codex-sandbox policy check --staged` command, "warm" is a second run that hits the blob cache.
Targets: 500-line check < 1 s, 10-line check < 0.6 s.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import cli, tool

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "SEMGREP_ENABLE_VERSION_CHECK": "0", "SEMGREP_SEND_METRICS": "off"}
TARGETS = {"500-line": 1.0, "10-line": 0.6}

PY = '''"""Generated module {i}."""

import json
import os
from pathlib import Path

API_KEY = os.environ.get("SERVICE_API_KEY", "")  # a keyword line: detect-secrets must run on this file


def load_{i}(path: Path) -> dict:
    """Read the settings file."""
    with path.open() as handle:
        return json.load(handle)


def merge_{i}(a: dict, b: dict) -> dict:
    out = dict(a)
    for key, value in b.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_{i}(out[key], value)
        else:
            out[key] = value
    return out


def total_{i}(items: list[int]) -> int:
    return sum(x * 2 for x in items if x > 0)
'''

JS = """// Generated module {i}.
const path = require("path");

function join{i}(parts) {{
  return parts.filter(Boolean).map((p) => String(p).trim()).join(path.sep);
}}

function count{i}(items) {{
  let n = 0;
  for (const item of items) {{
    if (item && item.enabled) {{
      n += 1;
    }}
  }}
  return n;
}}

function pick{i}(obj, keys) {{
  const out = {{}};
  for (const k of keys) {{
    if (k in obj) out[k] = obj[k];
  }}
  return out;
}}

module.exports = {{ join{i}, count{i}, pick{i} }};
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def make_repo(tmp: Path) -> Path:
    repo = tmp / "repo"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(ROOT), str(repo)], check=True)
    git(repo, "config", "user.name", "bench")
    git(repo, "config", "user.email", "bench@example.invalid")
    return repo


def stage_diff(repo: Path, files: int, lines: int) -> None:
    """Stage `files` new files holding `lines` added lines in total (Python and JS)."""
    git(repo, "reset", "-q", "--hard")
    git(repo, "clean", "-qfd")
    per = lines // files
    for i in range(files):
        body = (PY if i % 2 == 0 else JS).format(i=i).splitlines()
        while len(body) < per:
            body += body[-per:]  # pad with more of the same shape
        ext = "py" if i % 2 == 0 else "js"
        (repo / "gen").mkdir(exist_ok=True)
        (repo / "gen" / f"mod_{i}.{ext}").write_text("\n".join(body[:per]) + "\n")
    git(repo, "add", "-A")


ENGINE_SNIPPET = """
import sys, time
from pathlib import Path
t0 = time.perf_counter()
from runner.policy import evaluate_changes
from runner.policy.gitchanges import staged_changeset
repo = Path(sys.argv[1])
cs = staged_changeset(repo)
r = evaluate_changes(repo, cs, use_cache=sys.argv[2] == "1")
print(f"{time.perf_counter() - t0:.4f} {cs.lines_added} {len(cs.files)} {r.decision} {len(r.findings)}")
"""


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_engine(repo: Path, cache: bool) -> tuple[float, float, str]:
    """(wall inside the process, CPU of the process and its scanners, description)."""
    c0 = _cpu()
    out = subprocess.run([sys.executable, "-c", ENGINE_SNIPPET, str(repo), "1" if cache else "0"],
                         check=True, capture_output=True, text=True, cwd=ROOT, env=ENV).stdout.split()  # fmt: skip
    return float(out[0]), _cpu() - c0, f"+{out[1]} lines in {out[2]} files, {out[3]}, {out[4]} findings"


def time_cmd(cmd: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, capture_output=True, env=ENV, check=False)
    return time.perf_counter() - t0


def naive(repo: Path) -> dict[str, float]:
    """The scanners' own CLIs over the whole repo, one after another (what a naive gate does)."""
    semgrep = tool("semgrep")
    return {
        "semgrep scan (whole repo)": time_cmd(
            [
                semgrep,
                "scan",
                "--config",
                str(ROOT / "policies" / "semgrep"),
                "--metrics=off",
                "--disable-version-check",
                "--json",
                "-q",
                ".",
            ],
            repo,
        ),
        "detect-secrets scan (whole repo)": time_cmd([tool("detect-secrets"), "scan", "."], repo),
        "ruff check (whole repo)": time_cmd(
            [tool("ruff"), "check", "--no-cache", "--exit-zero", "."], repo
        ),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    entry = cli()
    with tempfile.TemporaryDirectory(prefix="bench-gates-") as tmp:
        repo = make_repo(Path(tmp))
        tracked = len(git(repo, "ls-files").splitlines())
        print(f"repo: clone of this project, {tracked} tracked files; load average {os.getloadavg()[0]:.2f}")
        naive_times = naive(repo)
        naive_total = sum(naive_times.values())
        for name, value in naive_times.items():
            print(f"  baseline {name:<34} {value:7.3f} s")
        print(f"  baseline total (sequential)              {naive_total:7.3f} s")
        ok = True
        for label, files, lines in (("500-line", 20, 500), ("10-line", 1, 10)):
            stage_diff(repo, files, lines)
            cold = [time_engine(repo, cache=False) for _ in range(args.repeat)]
            (repo / ".codex").mkdir(exist_ok=True)
            time_engine(repo, cache=True)  # fill the blob cache
            warm = [time_engine(repo, cache=True)[0] for _ in range(args.repeat)]
            shutil.rmtree(repo / ".codex")
            cli_times = [
                time_cmd([entry, "policy", "check", "--staged", "-q"], repo) for _ in range(args.repeat)
            ]
            engine = statistics.median(t for t, _, _ in cold)
            best = min(t for t, _, _ in cold)
            cpu = statistics.median(c for _, c, _ in cold)
            print(f"{label} diff ({cold[0][2]}): median (min) of {args.repeat}")
            print(f"  engine, cold (fresh process, imports incl.) {engine:7.3f} s ({best:.3f})   target < "
                  f"{TARGETS[label]} s   {'OK' if engine < TARGETS[label] else 'MISSED'}")  # fmt: skip
            print(f"  engine, cold: CPU of process + scanners     {cpu:7.3f} s")
            print(f"  engine, warm blob cache                     {statistics.median(warm):7.3f} s ({min(warm):.3f})")
            print(f"  whole CLI `policy check --staged`           {statistics.median(cli_times):7.3f} s "
                  f"({min(cli_times):.3f})")  # fmt: skip
            print(f"  speed-up vs naive whole-repo scanners       {naive_total / engine:7.1f}x")
            ok = ok and engine < TARGETS[label]
        print(
            f"load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores "
            "(other work on the machine inflates every wall time above)"
        )
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
