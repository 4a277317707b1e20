"""The `docker` provider: build the app image from a commit's tree, run it as `<project>-<env>`, roll back."""

from __future__ import annotations

import io
import re
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

from runner.deploy.base import APP_LABEL, COMMIT_LABEL, ENV_LABEL, PROJECT_LABEL, DeployResult, EnvStatus
from runner.config.deploy import DeployConfig, EnvironmentConfig
from runner.deploy.health import health_url, probe_command, probe_http, wait_healthy
from runner.errors import InvalidInput, RunnerError, StateError
from sandbox.docker.labels import REPO, REPO_ID, repo_id

SecretsLoader = Callable[[list[str]], dict[str, str]]


class DeployError(RunnerError):
    """A deploy could not be carried out (build failed, engine refused...)."""


def project_name(repo: Path, cfg: DeployConfig) -> str:
    """Docker-safe project name: config, else the repo directory name."""
    raw = cfg.project or Path(repo).resolve().name
    name = re.sub(r"[^a-z0-9_.-]+", "-", raw.lower()).strip("-._")
    if not name:
        raise InvalidInput(f"cannot derive a project name from {raw!r}: set deploy.project")
    return name


def _no_secrets(names: list[str]) -> dict[str, str]:
    if names:
        raise InvalidInput("secrets are configured but no secret store was given")
    return {}


class DockerProvider:
    """One container per environment; `<image>:<env>-current` / `-previous` tags keep the rollback target."""

    name = "docker"

    def __init__(self, repo: Path, cfg: DeployConfig, *, secrets: SecretsLoader | None = None, client=None):
        self.repo = Path(repo).resolve()
        self.cfg = cfg
        self.project = project_name(self.repo, cfg)
        self.image_repo = f"{self.project}-app"
        self._secrets = secrets or _no_secrets
        self._client = client

    @property
    def client(self):
        if self._client is None:
            from sandbox.docker.client import get_client

            self._client = get_client()
        return self._client

    def env_config(self, env: str) -> EnvironmentConfig:
        try:
            return self.cfg.environments[env]
        except KeyError:
            known = ", ".join(self.cfg.environments) or "none"
            raise InvalidInput(f"unknown environment {env!r} (configured: {known})") from None

    def container_name(self, env: str) -> str:
        return f"{self.project}-{env}"

    def labels(self, env: str | None = None, commit: str | None = None) -> dict[str, str]:
        labels = {
            APP_LABEL: "true",
            PROJECT_LABEL: self.project,
            REPO: str(self.repo),
            REPO_ID: repo_id(self.repo),
        }
        if env:
            labels[ENV_LABEL] = env
        if commit:
            labels[COMMIT_LABEL] = commit
        return labels

    # -- preflight: what is checked before a deploy or rollback is recorded --------------------------

    def preflight(self, env: str, commit: str) -> None:
        """The engine answers and the commit holds the Dockerfile the app is built from."""
        from sandbox.git.plumbing import git_trusted

        self.env_config(env)
        self.client  # noqa: B018 - EngineUnavailable (exit 4) when the engine cannot be reached
        path = self.cfg.dockerfile.removeprefix("./") or "Dockerfile"
        if git_trusted(self.repo, "cat-file", "-e", f"{commit}:{path}", check=False).returncode != 0:
            raise InvalidInput(f"commit {commit[:12]} has no {path} (deploy.dockerfile): the docker provider builds "
                               "the app image from it, and the app must answer the health check "
                               "(health_url, default /health)")

    def rollback_target(self, env: str) -> str | None:
        """The commit (or image id) a rollback of `env` would bring back; None when there is none."""
        self.env_config(env)
        prev = self._image(f"{self.image_repo}:{env}-previous")
        if prev is None:
            return None
        return prev.labels.get(COMMIT_LABEL) or prev.id

    # -- engine helpers -------------------------------------------------------------------------

    def _get(self, name: str):
        from docker.errors import NotFound

        try:
            return self.client.containers.get(name)
        except NotFound:
            return None

    def _app(self, env: str):
        """The env's app container, or None."""
        return self._get(self.container_name(env))

    def _image(self, ref: str):
        from docker.errors import ImageNotFound

        try:
            return self.client.images.get(ref)
        except ImageNotFound:
            return None

    def build(self, commit: str, context_tar: bytes) -> str:
        """Build (cached per commit) the app image from the commit's tree; returns its tag."""
        from docker.errors import APIError, BuildError

        tag = f"{self.image_repo}:{commit[:12]}"
        if self._image(tag) is not None:
            return tag
        try:
            self.client.images.build(
                fileobj=io.BytesIO(context_tar),
                custom_context=True,
                tag=tag,
                dockerfile=self.cfg.dockerfile,
                labels=self.labels(commit=commit),
                rm=True,
                forcerm=True,
                pull=False,
                timeout=self.cfg.build_timeout_s,
            )
        except BuildError as exc:
            tail = " | ".join(
                str(c.get("stream") or c.get("error") or "").strip() for c in list(exc.build_log)[-4:]
            ).strip(" |")
            raise DeployError(f"building {tag} failed: {exc.msg} ({tail})") from None
        except APIError as exc:
            raise DeployError(f"building {tag} failed: {exc.explanation or exc}") from None
        return tag

    def _run(self, env: str, image: str, commit: str | None):
        """Start the env's container from `image` on 127.0.0.1 only; returns the container."""
        ecfg = self.env_config(env)
        environment = {**ecfg.env, **self._secrets(ecfg.secrets)}
        return self.client.containers.run(
            image,
            name=self.container_name(env),
            detach=True,
            labels=self.labels(env, commit),
            environment=environment,
            init=True,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            ports={f"{ecfg.container_port}/tcp": ("127.0.0.1", ecfg.port or None)},
            restart_policy={"Name": "on-failure", "MaximumRetryCount": 5},
        )

    def _remove(self, container) -> None:
        from docker.errors import NotFound

        try:
            container.remove(force=True)
        except NotFound:
            pass

    def host_port(self, container, env: str) -> int | None:
        container.reload()
        port = self.env_config(env).container_port
        binding = (container.attrs.get("NetworkSettings", {}).get("Ports") or {}).get(f"{port}/tcp")
        return int(binding[0]["HostPort"]) if binding else None

    def _await(self, container, env: str) -> tuple[bool, str, str | None]:
        ecfg = self.env_config(env)
        url = health_url(ecfg.health_url, self.host_port(container, env))
        ok, reason = wait_healthy(
            container, url=url, command=ecfg.health_command, timeout_s=ecfg.health_timeout_s
        )
        return ok, reason, url

    def _tag(self, image_ref: str, tag: str) -> None:
        img = self._image(image_ref)
        if img is not None:
            img.tag(self.image_repo, tag)

    def _result(self, env: str, t0: float, status: str, **fields) -> DeployResult:
        """This provider's DeployResult for `env`, timed from `t0` (a time.monotonic() reading)."""
        return DeployResult(env=env, provider=self.name, status=status, duration_s=time.monotonic() - t0, **fields)

    # -- the provider contract ------------------------------------------------------------------

    def deploy(
        self, env: str, commit: str, context_tar: bytes, *, previous: str | None = None
    ) -> DeployResult:
        """Build, replace the env's container, wait for health; on failure restore the previous image."""
        t0 = time.monotonic()
        self.env_config(env)
        image = self.build(commit, context_tar)
        old = self._get(self.container_name(env))
        prev_image = old.image.id if old is not None else None
        prev_commit = old.labels.get(COMMIT_LABEL) if old is not None else None
        if old is not None:
            self._remove(old)
        new = self._run(env, image, commit)
        ok, reason, url = self._await(new, env)
        if ok:
            if prev_image and prev_image != self._image(image).id:
                self._tag(prev_image, f"{env}-previous")
            self._tag(image, f"{env}-current")
            self.prune()
            return self._result(
                env,
                t0,
                "deployed",
                commit=commit,
                image=image,
                container=new.name,
                url=url,
                previous_commit=prev_commit,
                message=f"healthy ({reason})",
            )
        tail = _log_tail(new)
        self._remove(new)
        message = f"health check failed: {reason}" + (f"; last log: {tail}" if tail else "")
        if prev_image is None:
            return self._result(
                env,
                t0,
                "failed",
                commit=commit,
                image=image,
                message=message + "; nothing to roll back to",
            )
        restored = self._run(env, prev_image, prev_commit)
        ok2, reason2, url2 = self._await(restored, env)
        message += f"; rolled back to {(prev_commit or prev_image)[:12]} ({'healthy' if ok2 else reason2})"
        return self._result(
            env,
            t0,
            "rolled_back",
            commit=prev_commit,
            image=prev_image,
            container=restored.name,
            url=url2,
            previous_commit=commit,
            message=message,
        )

    def rollback(self, env: str) -> DeployResult:
        """Swap the env back to its previous image."""
        t0 = time.monotonic()
        prev = self._image(f"{self.image_repo}:{env}-previous")
        if prev is None:
            raise StateError(f"nothing to roll back to in {env}: no previous deploy is recorded")
        prev_commit = prev.labels.get(COMMIT_LABEL)
        old = self._get(self.container_name(env))
        cur_commit = old.labels.get(COMMIT_LABEL) if old is not None else None
        cur_image = old.image.id if old is not None else None
        if old is not None:
            self._remove(old)
        restored = self._run(env, prev.id, prev_commit)
        ok, reason, url = self._await(restored, env)
        if cur_image:
            self._tag(cur_image, f"{env}-previous")
        self._tag(prev.id, f"{env}-current")
        return self._result(
            env,
            t0,
            "deployed" if ok else "failed",
            commit=prev_commit,
            image=prev.id,
            container=restored.name,
            url=url,
            previous_commit=cur_commit,
            message=f"rolled back ({reason})",
        )

    def status(self, env: str) -> EnvStatus:
        """Health, uptime, restarts and deployed commit, read live from the engine."""
        ecfg = self.env_config(env)
        name = self.container_name(env)
        c = self._app(env)
        if c is None:
            return EnvStatus(env=env, container=name, state="absent", health="unknown", detail="not deployed")
        state = c.attrs.get("State", {})
        started = state.get("StartedAt")
        uptime = None
        if c.status == "running" and started:
            uptime = max(0.0, (datetime.now(timezone.utc) - _parse_ts(started)).total_seconds())
        url = health_url(ecfg.health_url, self.host_port(c, env))
        if c.status != "running":
            ok, detail = False, f"container {c.status} (exit {state.get('ExitCode')})"
        elif ecfg.health_command:
            ok, detail = probe_command(c, ecfg.health_command)
        elif url:
            ok, detail = probe_http(url)
        else:
            ok, detail = True, "running"
        return EnvStatus(
            env=env,
            container=c.name,
            state=c.status,
            health="healthy" if ok else "unhealthy",
            commit=c.labels.get(COMMIT_LABEL),
            image=(c.image.tags or [c.image.id])[0],
            started_at=started,
            uptime_s=uptime,
            restarts=int(c.attrs.get("RestartCount", 0)),
            url=url,
            detail=detail,
        )

    @contextmanager
    def app_network(self, env: str) -> Iterator[tuple[str, str]]:
        """An internal network joining the env's app container, for `network: app` steps: (name, app URL)."""
        from docker.errors import APIError

        c = self._app(env)
        if c is None:
            raise StateError(f"{env} is not deployed")
        name = f"{self.container_name(env)}-steps"
        for old in self.client.networks.list(names=[name]):
            old.remove()
        net = self.client.networks.create(name, internal=True, labels=self.labels(env))
        try:
            net.connect(c, aliases=["app"])
            yield name, f"http://app:{self.env_config(env).container_port}"
        finally:
            try:
                net.disconnect(c, force=True)
            except APIError:
                pass
            try:
                net.remove()
            except APIError:
                pass

    def app_container(self, env: str) -> str | None:
        c = self._app(env)
        return c.name if c is not None else None

    def logs(self, env: str, *, follow: bool = False, tail: int = 200):
        """Yield the env container's log lines (follow: until it stops)."""
        c = self._app(env)
        if c is None:
            raise StateError(f"{env} is not deployed")
        if not follow:
            yield from c.logs(tail=tail).decode("utf-8", "replace").splitlines()
            return
        buf = b""
        for chunk in c.logs(stream=True, follow=True, tail=tail):
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                yield line.decode("utf-8", "replace")
        if buf:
            yield buf.decode("utf-8", "replace")

    def prune(self) -> list[str]:
        """Remove this project's app images no env references as current or previous."""
        from docker.errors import APIError

        keep = set()
        for env in self.cfg.environments:
            for tag in (f"{env}-current", f"{env}-previous"):
                img = self._image(f"{self.image_repo}:{tag}")
                if img is not None:
                    keep.add(img.id)
        for c in self.client.containers.list(all=True, filters={"label": f"{PROJECT_LABEL}={self.project}"}):
            keep.add(c.image.id)
        removed = []
        for img in self.client.images.list(filters={"label": f"{APP_LABEL}=true"}):
            if img.labels.get(PROJECT_LABEL) != self.project or img.id in keep:
                continue
            try:
                self.client.images.remove(img.id, force=True)
                removed.append(img.id)
            except APIError:
                pass  # in use elsewhere; the next prune gets it
        return removed


def _parse_ts(value: str) -> datetime:
    # Docker gives nanoseconds; datetime takes microseconds.
    base, _, rest = value.rstrip("Z").partition(".")
    frac = (rest[:6] if rest else "0").ljust(6, "0")
    return datetime.fromisoformat(f"{base}.{frac}").replace(tzinfo=timezone.utc)


def _log_tail(container, lines: int = 3) -> str:
    try:
        text = container.logs(tail=lines).decode("utf-8", "replace")
    except Exception:  # the container may already be gone; the tail is only a hint
        return ""
    return " | ".join(line.strip() for line in text.splitlines() if line.strip())[-300:]
