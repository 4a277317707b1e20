"""Compose a deploy: commit → tree → pre steps → provider switch (auto-rollback) → post steps; record it."""

from __future__ import annotations

import getpass
import os
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from runner.deploy.base import DeployResult
from runner.config.deploy import DeployConfig
from runner.errors import InvalidInput, PolicyViolation, StateError
from runner.state.secrets import redact
from runner.verify.run import rev_parse

if TYPE_CHECKING:
    from runner.deploy.docker_provider import DockerProvider

SecretsLoader = Callable[[list[str]], dict[str, str]]


def git_archive(repo: Path, commit: str) -> bytes:
    """The commit's tree as a tar, from git objects (never a working tree)."""
    proc = subprocess.run(["git", "-C", str(repo), "archive", "--format=tar", commit], capture_output=True)
    if proc.returncode != 0:
        raise InvalidInput(f"cannot archive {commit}: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


def _verified(store, sha: str) -> bool:
    return any(r.commit == sha and r.status == "succeeded" for r in store.list_runs(kind="verify"))


def last_verified_commit(store) -> str | None:
    """The commit of the newest passing verify run."""
    if store is None:
        return None
    runs = [r for r in store.list_runs(kind="verify") if r.status == "succeeded" and r.commit]
    runs.sort(key=lambda r: r.started_at)
    return runs[-1].commit if runs else None


def make_provider(repo: Path, cfg: DeployConfig, secrets: SecretsLoader | None = None) -> DockerProvider:
    """The provider `deploy.provider` names, built from the deploy section (the one place that chooses)."""
    from runner.deploy.compose_provider import ComposeProvider
    from runner.deploy.docker_provider import DockerProvider

    kinds: dict[str, type[DockerProvider]] = {"docker": DockerProvider, "compose": ComposeProvider}
    return kinds[cfg.provider](repo, cfg, secrets=secrets)


class Deployer:
    """Runs `deploy <env>` for one repo; the CLI builds it, tests call it directly."""

    def __init__(
        self,
        repo: Path,
        cfg: DeployConfig,
        *,
        store=None,
        secrets: SecretsLoader | None = None,
        provider=None,
        runs_dir: Path | None = None,
        policies=None,
        progress: Callable[[str], None] | None = None,
    ):
        self.progress = progress or (lambda _m: None)  # one line per step of a deploy, for the live status
        self.repo = Path(repo).resolve()
        self.cfg = cfg
        self.store = store
        self.policies = policies  # the config's `policies:` (None: policies/default.yaml)
        self._loader = secrets
        self._seen: dict[str, str] = {}  # values handed out, so every message can be redacted
        self._switching = False  # the provider was asked to change the environment
        self.provider = provider or make_provider(self.repo, cfg, self._secrets)
        self.runs_dir = runs_dir or self.repo / ".codex" / "runs" / "deploy"

    def _secrets(self, names: list[str]) -> dict[str, str]:
        if not names:
            return {}
        if self._loader is None:
            raise InvalidInput(f"secrets {', '.join(names)} are needed but no secret store is open")
        values = self._loader(list(names))
        self._seen.update(values)
        return values

    def resolve_commit(self, commit: str | None) -> str:
        if commit:
            return rev_parse(self.repo, commit)
        verified = last_verified_commit(self.store)
        if verified is None:
            raise StateError(
                "no verified commit to deploy: run `codex-sandbox verify run` (or pass --commit)"
            )
        return verified

    def plan(self, env: str, commit: str | None = None) -> dict:
        """What `deploy env` would do (for --dry-run); touches nothing."""
        ecfg = self.provider.env_config(env)
        sha = self.resolve_commit(commit)
        return {
            "env": env,
            "provider": self.cfg.provider,
            "commit": sha,
            "container": self.provider.container_name(env),
            "image": f"{self.provider.image_repo}:{sha[:12]}",
            "port": ecfg.port or "ephemeral (127.0.0.1)",
            "health": ecfg.health_command or ecfg.health_url,
            "requires_approval": ecfg.needs_approval(env),
            "policy_gate": _gate_range(self.store, env, sha, self.repo),
            "app_secrets": ecfg.secrets,
            "steps": [
                {"name": s.name, "phase": s.phase, "secrets": s.secrets, "network": s.network}
                for s in ecfg.steps
            ],
        }

    def deploy(
        self,
        env: str,
        *,
        commit: str | None = None,
        approved_by: str | None = None,
        on_line: Callable[[str], None] | None = None,
        overrides: list = (),
        actor: str = "human",
    ) -> DeployResult:
        """Deploy to `env`; refuses without approval or on a policy block (exit 3); records the outcome."""
        ecfg = self.provider.env_config(env)
        sha = self.resolve_commit(commit)
        if ecfg.needs_approval(env) and not approved_by:
            raise PolicyViolation(
                f"deploying to {env} needs approval: pass --approve (or confirm on a terminal)"
            )
        if self.store is not None:
            from runner.state import lifecycle

            # a deploy the lifecycle refuses is not even gated; with a plan, only a verified commit ships
            if lifecycle.require(self.store, "deploy") == "lifecycle" and not _verified(self.store, sha):
                raise StateError(
                    f"{sha[:12]} has no passing verify run: `codex-sandbox verify run --commit {sha[:12]}` first"
                )
        self.preflight(env, sha)
        self.progress(f"policy gate over what {sha[:12]} ships to {env}")
        gate = self.check(env, sha, overrides=overrides, actor=actor)
        # Only now, with every refusal behind us, does the deploy start: the lifecycle moves and a run is recorded.
        mode = self._enter_deploying(sha)
        run = self._start_run(env, sha, approved_by, gate=gate)
        run_id = run.id if run is not None else _local_id()
        result: DeployResult | None = None
        error: str | None = None
        refused = False
        try:
            result = self._deploy(env, sha, run_id, on_line)
            return result
        except Exception as exc:
            error = redact(str(exc), self._seen)
            refused = _refusal(exc) and not self._switching  # a check said no before the environment was touched
            raise
        finally:
            self._finish_run(run, env, result, error, refused=refused)
            final = (
                ecfg.needs_approval(env) or env == list(self.cfg.environments)[-1]
            )  # prod-like: now observe
            if mode == "lifecycle" and result is not None and result.ok and final:
                from runner.state import lifecycle

                lifecycle.transition(self.store, "OBSERVING", reason=f"deployed {sha[:12]} to {env}")

    def preflight(self, env: str, sha: str) -> None:
        """What a deploy needs before it starts (engine, the commit's Dockerfile or compose file, the step
        images); a refusal here records no run and moves no state."""
        self.provider.preflight(env, sha)
        images = {s.image or self.cfg.step_image for s in self.provider.env_config(env).steps}
        if images:
            from docker.errors import ImageNotFound

            from sandbox.docker.client import get_client
            from sandbox.errors import ImageError

            for image in sorted(images):
                try:
                    get_client().images.get(image)
                except ImageNotFound:
                    raise ImageError(f"the deploy steps need the image {image}, which is not built; "
                                     "run `codex-sandbox images build`") from None

    def check(self, env: str, sha: str, *, overrides: list = (), actor: str = "human") -> dict:
        """The deploy gate (runner/deploy/gate.py); a block is recorded and raises DeployBlocked."""
        from runner.deploy.gate import (
            GATED_EVENT,
            DeployBlocked,
            gate_base,
            gate_record,
            run_gate,
            verified_coverage,
        )

        if overrides and actor != "human":
            raise PolicyViolation("a model-driven run can never override a policy finding")
        base = gate_base(self.store, env, self.repo)
        report = run_gate(self.repo, sha, base, policies=self.policies, overlay=self.cfg.policies,
                          overrides=overrides, coverage=verified_coverage(self.store, sha), actor=actor)  # fmt: skip
        record = gate_record(env, sha, base, report)
        if self.store is not None:
            self.store.audit(GATED_EVENT, details=record, actor=actor)
        if report.decision == "block":
            if self.store is not None:
                from runner.state.models import Run

                run = Run(kind="deploy", commit=sha, pid=os.getpid(),
                          details={"env": env, "provider": self.cfg.provider, "action": "deploy"})  # fmt: skip
                self.store.start_run(run)
                self.store.finish_run(run.id, event="deploy.blocked", status="blocked",
                                      details={"outcome": "blocked", "gate": record},
                                      error=f"blocked by the policy gates: {report.summary()}")  # fmt: skip
            raise DeployBlocked(env, sha, base, report)
        return record

    def _enter_deploying(self, sha: str) -> str | None:
        """Check the lifecycle allows a deploy (DEPLOYING needs a passing verify of this commit)."""
        if self.store is None:
            return None
        from runner.state import lifecycle

        mode = lifecycle.require(self.store, "deploy")
        if mode == "lifecycle" and self.store.lifecycle_state() != "DEPLOYING":
            lifecycle.transition(
                self.store, "DEPLOYING", reason=f"deploying {sha[:12]}", context={"commit": sha}
            )
        return mode

    def _deploy(self, env, sha, run_id, on_line) -> DeployResult:
        ecfg = self.provider.env_config(env)
        context_tar = git_archive(self.repo, sha)
        log_dir = self.runs_dir / run_id
        steps: list[dict] = []
        with tempfile.TemporaryDirectory(prefix="codex-deploy-") as tmp:
            tree = None
            if ecfg.steps:
                from runner.deploy.steps import extract_tree

                tree = extract_tree(context_tar, Path(tmp) / "tree")
            for step in (s for s in ecfg.steps if s.phase == "pre"):
                self.progress(f"{env}: step {step.name} (before the switch)")
                info = self._step(step, env, sha, run_id, tree, "none", None, log_dir, on_line)
                steps.append(info)
                if not info["ok"]:
                    return DeployResult(
                        env=env,
                        provider=self.provider.name,
                        status="failed",
                        commit=sha,
                        message=f"step {step.name} failed ({info['reason']}); nothing was switched",
                        steps=steps,
                    )
            self.progress(f"{env}: building the app image of {sha[:12]}, switching, waiting for the health check")
            self._switching = True
            result = self.provider.deploy(env, sha, context_tar)
            result.message = redact(result.message, self._seen)
            post = [s for s in ecfg.steps if s.phase == "post"]
            if result.ok and post:
                failed = None
                with self.provider.app_network(env) as (net, url):
                    for step in post:
                        self.progress(f"{env}: step {step.name} (after the switch)")
                        network = net if step.network == "app" else "none"
                        info = self._step(step, env, sha, run_id, tree, network, url, log_dir, on_line)
                        steps.append(info)
                        if not info["ok"]:
                            failed = info
                            break
                if failed is not None:
                    back = self.provider.rollback(env)
                    result = result.model_copy(
                        update={
                            "status": "rolled_back",
                            "commit": back.commit,
                            "image": back.image,
                            "previous_commit": sha,
                            "message": f"step {failed['name']} failed ({failed['reason']}); {back.message}",
                        }
                    )
            result.steps = steps
        return result

    def _step(self, step, env, sha, run_id, tree, network, url, log_dir, on_line) -> dict:
        from runner.deploy.steps import run_step

        secrets = self._secrets(step.secrets)
        env_vars = {"DEPLOY_ENV": env, "DEPLOY_COMMIT": sha}
        if url:
            env_vars["APP_URL"] = url
        return run_step(
            step,
            repo=self.repo,
            run_id=run_id,
            tree=tree,
            image=step.image or self.cfg.step_image,
            env=env_vars,
            secrets=secrets,
            network=network,
            log_path=log_dir / f"{_slug(step.name)}.log",
            on_line=on_line,
        )

    def rollback_target(self, env: str) -> str:
        """What a rollback would bring back; a rollback with nothing to go back to is refused, not attempted
        (no run is recorded, so it is no failed deployment)."""
        target = self.provider.rollback_target(env)
        if target is None:
            raise StateError(f"nothing to roll back to in {env}: no previous deploy is recorded")
        return target

    def rollback(self, env: str, *, approved_by: str | None = None) -> DeployResult:
        ecfg = self.provider.env_config(env)
        if ecfg.needs_approval(env) and not approved_by:
            raise PolicyViolation(
                f"rolling back {env} needs approval: pass --approve (or confirm on a terminal)"
            )
        target = self.rollback_target(env)
        run = self._start_run(env, None, approved_by, action="rollback")
        result, error, refused = None, None, False
        try:
            self.progress(f"{env}: rolling back to {target[:12]}, waiting for the health check")
            self._switching = True
            result = self.provider.rollback(env)
            return result
        except Exception as exc:
            error = redact(str(exc), self._seen)
            refused = _refusal(exc) and not self._switching
            raise
        finally:
            self._finish_run(run, env, result, error, action="rollback", refused=refused)

    # -- recording ----------------------------------------------------------------------------

    def _start_run(self, env, sha, approved_by, action="deploy", gate: dict | None = None):
        if self.store is None:
            return None
        from runner.state.models import Run

        if approved_by:
            self.store.audit(
                "deploy.approved",
                details={"env": env, "commit": sha, "via": approved_by, "user": _user(), "action": action},
            )
        run = Run(
            kind="deploy",
            commit=sha,
            pid=os.getpid(),
            details={"env": env, "provider": self.cfg.provider, "action": action, "approved_by": approved_by,
                     **({"gate": gate} if gate else {})},
        )
        self.store.start_run(run)
        return run

    def _finish_run(self, run, env, result: DeployResult | None, error: str | None, action="deploy",
                    refused: bool = False) -> None:
        """Close the run: deployed, rolled_back or failed — or refused, when it stopped on a check before
        anything was switched (that is no deployment, and deployment_success_rate does not count it)."""
        if run is None:
            return
        from runner.state.models import utcnow

        outcome = result.status if result is not None else "refused" if refused else "failed"
        details = {
            "env": env,
            "provider": self.cfg.provider,
            "action": action,
            "outcome": outcome,
            "approved_by": run.details.get("approved_by"),
        }
        if result is not None:
            details.update(
                previous_commit=result.previous_commit,
                url=result.url,
                message=result.message,
                steps=[{k: v for k, v in s.items() if k != "log"} for s in result.steps],
            )
        self.store.finish_run(
            run.id,
            event=f"deploy.{outcome}",
            details=details,
            status="succeeded" if outcome == "deployed" else "failed",
            finished_at=utcnow(),
            commit=result.commit if result is not None and result.commit else run.commit,
            image=result.image if result is not None else None,
            container=result.container if result is not None else None,
            error=error or (None if outcome == "deployed" else (result.message if result else "failed")),
        )


def _refusal(exc: BaseException) -> bool:
    """A check said no (bad input, wrong state, missing approval)."""
    return isinstance(exc, (InvalidInput, StateError, PolicyViolation))


def _gate_range(store, env: str, sha: str, repo: Path) -> str:
    """The range the deploy gate would check, for --dry-run."""
    from runner.deploy.gate import gate_base
    from runner.policy.gitchanges import EMPTY_TREE

    base = gate_base(store, env, repo)
    return f"{sha[:12]} (whole tree: first deploy)" if base == EMPTY_TREE else f"{base[:12]}..{sha[:12]}"


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name)[:60] or "step"


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (containers): the uid is still an answer
        return str(os.getuid())


def _local_id() -> str:
    from runner.state.models import new_id

    return new_id()
