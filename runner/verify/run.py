"""`verify run`: the tests in a network-less sandbox over a worktree of one commit; JUnit + coverage."""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from runner.errors import InvalidInput
from runner.verify.report import VerifyReport, runs_dir, save

if TYPE_CHECKING:
    from runner.verify.junit import TestResult
    from sandbox.docker.container import RunResult

OUT = "/out"


def rev_parse(repo: Path, rev: str) -> str:
    proc = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--verify", f"{rev}^{{commit}}"],
        capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        from runner.build.preflight import has_commits, no_commit_message

        if not has_commits(repo):
            raise InvalidInput(no_commit_message(repo))
        raise InvalidInput(f"unknown commit {rev!r}")
    return proc.stdout.strip()


@contextmanager
def checkout(repo: Path, sha: str, run_id: str, pool_size: int = 2) -> Iterator[Path]:
    """A worktree of `sha` (the worktree manager), or an exported tree where that is not available."""
    try:
        from sandbox.tree.worktree import WorktreeManager
    except ImportError:
        WorktreeManager = None
    if WorktreeManager is not None:
        with WorktreeManager(repo, pool_size=pool_size).checkout(run_id, base=sha) as wt:
            yield Path(wt.path)
        return
    from runner.deploy.service import git_archive
    from runner.deploy.steps import extract_tree

    with tempfile.TemporaryDirectory(prefix="codex-verify-") as tmp:
        yield extract_tree(git_archive(repo, sha), Path(tmp) / "tree")


def test_command(detected, cfg) -> str:
    """The shell command run in the test container; pytest gets JUnit (and coverage) flags."""
    cmd = detected.command
    words = shlex.split(cmd)
    if detected.ecosystem == "python" and "pytest" in " ".join(words[:3]):
        cmd += f" -p no:cacheprovider --junitxml={OUT}/junit.xml"
        if cfg.coverage:
            cmd += f" --cov=. --cov-report=xml:{OUT}/coverage.xml --cov-report="
    return cmd


def _image(cfg) -> tuple[str, str]:
    from sandbox.docker.client import get_client
    from sandbox.errors import ImageError

    ref = cfg.image or "codex-sandbox/python:latest"
    from docker.errors import ImageNotFound

    try:
        return ref, get_client().images.get(ref).id
    except ImageNotFound:
        raise ImageError(f"image not found: {ref} (run `codex-sandbox images build`)") from None


def run_verify(
    repo: Path,
    config,
    *,
    store=None,
    commit: str = "HEAD",
    run_id: str | None = None,
    on_output: Callable[[str], None] | None = None,
    progress: Callable[[str], None] | None = None,
) -> VerifyReport:
    """Verify `commit`; record the run and report; in lifecycle mode move to VERIFYING, then DEPLOYING on a pass.

    Checked before anything is recorded: the commit, the lifecycle, the engine and the test image. The
    lifecycle moves only once the tests ran and produced a report: a run that never happened (engine
    down, image missing, container refused) changes no state.
    """
    from runner.state.models import Run, new_id

    repo = Path(repo).resolve()
    cfg = config.verify
    say = progress or (lambda _m: None)
    sha = rev_parse(repo, commit)
    mode = _mode(store)
    image, image_id = _image(cfg)
    run_id = run_id or new_id()
    run = Run(id=run_id, kind="verify", commit=sha, image=image, pid=os.getpid(), details={"mode": mode})
    if store is not None:
        store.start_run(run, event="verify.started", details={"commit": sha, "mode": mode})
    report: VerifyReport | None = None
    error: str | None = None
    try:
        report = _run(repo, config, sha, run_id, image, image_id, mode, on_output, say)
        return report
    except Exception as exc:
        error = str(exc)
        raise
    finally:
        if store is not None:
            _record(store, repo, run, report, error)
        if report is not None and mode == "lifecycle":
            _advance(store, sha, report.passed)


def _mode(store) -> str:
    """How the lifecycle allows this verify (ad hoc without a plan); checks only, moves nothing."""
    if store is None:
        return "adhoc"
    from runner.state import lifecycle

    return lifecycle.require(store, "verify.run")


def _advance(store, sha: str, passed: bool) -> None:
    """The tests ran: the lifecycle is VERIFYING now, and DEPLOYING for this commit if they passed."""
    from runner.state import lifecycle

    if store.lifecycle_state() != "VERIFYING":
        lifecycle.transition(store, "VERIFYING", reason=f"verified {sha[:12]}")
    if passed:
        lifecycle.transition(store, "DEPLOYING", reason=f"verify passed for {sha[:12]}", context={"commit": sha})


def _run(repo, config, sha, run_id, image, image_id, mode, on_output, say) -> VerifyReport:
    from runner.verify.deps import ensure_deps
    from runner.verify.detect import detect
    from runner.verify.junit import parse_coverage, parse_junit, read_untrusted
    from sandbox.docker.container import Mount, RunSpec, default_user, run_container
    from sandbox.docker.labels import run_labels

    cfg = config.verify
    out_dir = runs_dir(repo) / run_id
    out_dir.mkdir(parents=True, exist_ok=True)
    labels = run_labels(repo, run_id, kind="verify")
    pool = config.sandbox.pool_size
    with (
        checkout(repo, sha, run_id, pool) as tree,
        tempfile.TemporaryDirectory(prefix="codex-verify-out-") as tmp,
    ):
        detected = detect(tree, cfg.command)
        say(f"dependencies of {detected.ecosystem} tests ({cfg.fetch} fetch, cached per image and specs)")
        deps, installed = ensure_deps(
            detected,
            tree=tree,
            image=image,
            image_id=image_id,
            fetch=cfg.fetch,
            install_network=cfg.install_network,
            labels=labels,
            log_path=out_dir / "install.log",
            on_output=on_output,
        )
        # The container writes its results here, not into the tree; we read them back without following links.
        results = Path(tmp) / "out"
        results.mkdir()
        uid, _, gid = default_user().partition(":")
        if os.getuid() == 0:
            os.chown(results, int(uid), int(gid or uid))
        mounts = [Mount(source=results, target=OUT)]
        env = {"CI": "true", "VERIFY_OUT": OUT, "COVERAGE_FILE": f"{OUT}/.coverage"}
        if deps is not None and detected.ecosystem == "python":
            mounts.append(Mount(source=deps, target="/deps", read_only=True))
            env["PYTHONPATH"] = "/deps"
        elif deps is not None:
            mounts.append(
                Mount(source=deps / "node_modules", target="/workspace/node_modules", read_only=True)
            )
        command = test_command(detected, cfg)
        limits = config.sandbox.limits.model_copy(update={"timeout_s": cfg.timeout_s})
        spec = RunSpec(
            image=image,
            command=["sh", "-c", command],
            workspace=tree,
            env=env,
            network=cfg.network,
            limits=limits,
            labels=labels,
            mounts=mounts,
            log_path=out_dir / "test.log",
        )
        say(f"running the tests: {detected.command}")
        result = run_container(spec, on_output=on_output)
        junit = read_untrusted(results / "junit.xml")
        coverage = read_untrusted(results / "coverage.xml")
    cases = parse_junit(junit) if junit else []
    bad = [c for c in cases if c.outcome in ("failed", "error")]
    report = VerifyReport(
        run_id=run_id,
        commit=sha,
        passed=bool(result.ok and not bad),
        exit_code=result.exit_code,
        reason=_reason(result, junit is not None, cases),
        command=command,
        image=image,
        ecosystem=detected.ecosystem,
        total=len(cases),
        failed=sum(c.outcome == "failed" for c in cases),
        errors=sum(c.outcome == "error" for c in cases),
        skipped=sum(c.outcome == "skipped" for c in cases),
        coverage_percent=parse_coverage(coverage) if coverage else None,
        duration_s=result.duration_s,
        deps_installed=installed,
        deps_cached=deps is not None and not installed,
        failures=bad,
        log_path=str(out_dir / "test.log"),
        mode=mode,
    )
    if junit:
        (out_dir / "junit.xml").write_bytes(junit)
        report.junit_path = str(out_dir / "junit.xml")
    if coverage:
        (out_dir / "coverage.xml").write_bytes(coverage)
        report.coverage_path = str(out_dir / "coverage.xml")
    save(report, out_dir)
    return report


def _reason(result: RunResult, have_junit: bool, cases: list[TestResult]) -> str:
    if result.timed_out:
        return "timed out"
    if result.oom_killed:
        return "killed: out of memory"
    if result.exit_code == 5 and not cases:
        return "no tests were collected"
    if not have_junit:
        return f"exit code {result.exit_code}; no JUnit results"
    return f"exit code {result.exit_code}"


def _record(store, repo: Path, run, report: VerifyReport | None, error: str | None) -> None:
    from runner.state.models import utcnow

    if report is None:
        store.finish_run(
            run.id,
            event="verify.failed",
            status="failed",
            error=(error or "verify failed")[:2000],
            finished_at=utcnow(),
        )
        return
    path = runs_dir(repo) / report.run_id / "report.json"
    details = {
        "passed": report.passed,
        "total": report.total,
        "failed": report.failed,
        "errors": report.errors,
        "coverage": report.coverage_percent,
        "failing": report.failing_names[:50],
        "deps_installed": report.deps_installed,
        "mode": report.mode,
    }
    store.finish_run(
        run.id,
        event="verify.passed" if report.passed else "verify.failed",
        details=details,
        status="succeeded" if report.passed else "failed",
        finished_at=utcnow(),
        manifest_path=str(path.relative_to(repo)),
        error=None if report.passed else (report.reason + ": " + ", ".join(report.failing_names[:10]))[:2000],
    )
