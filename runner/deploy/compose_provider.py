"""The `compose` provider: an app described by a compose file, deployed per env as project `<project>-<env>`.

Each commit's tree is exported (git archive) to a state directory; an override file pins every built
service's image to `<project>-<service>:<commit12>`, so the previous commit can be brought back with
`up --no-build`. Works with `docker-compose` 1.29 and `docker compose` v2.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import yaml

from runner.deploy.base import APP_LABEL, COMMIT_LABEL, ENV_LABEL, PROJECT_LABEL, DeployResult
from runner.deploy.docker_provider import DeployError, DockerProvider
from runner.errors import InvalidInput, StateError

PROJECT_KEY = "com.docker.compose.project"
SERVICE_KEY = "com.docker.compose.service"


def compose_command(configured: list[str] | None) -> list[str]:
    if configured:
        return list(configured)
    return ["docker-compose"] if shutil.which("docker-compose") else ["docker", "compose"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ComposeProvider(DockerProvider):
    """Same contract as the docker provider; the switch is `compose up` of the commit's tree."""

    name = "compose"

    def __init__(self, repo: Path, cfg, *, secrets=None, client=None, state_dir: Path | None = None):
        super().__init__(repo, cfg, secrets=secrets, client=client)
        if state_dir is None:
            from sandbox.tree.worktree import state_dir_for

            state_dir = state_dir_for(self.repo)
        self.state_dir = Path(state_dir) / "deploy" / self.project

    def compose_project(self, env: str) -> str:
        return f"{self.project}-{env}".replace(".", "-")

    # -- state: which commit is current/previous per env, and its port -------------------------------

    def _state_path(self, env: str) -> Path:
        return self.state_dir / f"{env}.json"

    def _state(self, env: str) -> dict:
        try:
            return json.loads(self._state_path(env).read_text())
        except (OSError, ValueError):
            return {}

    def _save_state(self, env: str, data: dict) -> None:
        from runner.fsutil import atomic_write

        atomic_write(self._state_path(env), json.dumps(data, indent=1))

    # -- preflight ---------------------------------------------------------------------------------

    def preflight(self, env: str, commit: str) -> None:
        """The engine answers, the compose CLI is there, and the commit holds the compose file."""
        from sandbox.git.plumbing import git_trusted

        self.env_config(env)
        self.client  # noqa: B018 - EngineUnavailable (exit 4) when the engine cannot be reached
        cmd = compose_command(self.cfg.compose_command)
        if not shutil.which(cmd[0]):
            raise InvalidInput(f"the compose CLI {cmd[0]!r} is not installed (deploy.compose_command)")
        path = self.cfg.compose_file.removeprefix("./") or "compose.yaml"
        if git_trusted(self.repo, "cat-file", "-e", f"{commit}:{path}", check=False).returncode != 0:
            raise InvalidInput(f"commit {commit[:12]} has no {path} (deploy.compose_file) to deploy")

    def rollback_target(self, env: str) -> str | None:
        self.env_config(env)
        return self._state(env).get("previous")

    # -- compose plumbing --------------------------------------------------------------------------

    def _tree(self, commit: str, context_tar: bytes | None) -> Path:
        from runner.deploy.steps import extract_tree

        tree = self.state_dir / "trees" / commit[:12]
        if not (tree / ".complete").is_file():
            if context_tar is None:
                raise StateError(f"the tree of {commit[:12]} is gone; deploy it again")
            shutil.rmtree(tree, ignore_errors=True)
            extract_tree(context_tar, tree)
            (tree / ".complete").write_text(commit)
        return tree

    def _services(self, tree: Path) -> dict:
        path = tree / self.cfg.compose_file
        try:
            doc = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise InvalidInput(f"cannot read compose file {self.cfg.compose_file}: {exc}") from None
        services = doc.get("services") or {}
        if not services:
            raise InvalidInput(f"{self.cfg.compose_file} defines no services")
        return services

    def _service(self, tree: Path | None) -> str:
        if self.cfg.service:
            return self.cfg.service
        if tree is None:
            raise InvalidInput("set deploy.service (the compose service to health-check)")
        return next(iter(self._services(tree)))

    def _override(self, env: str, commit: str, tree: Path) -> Path:
        labels = self.labels(env, commit)
        services = {}
        for name, svc in self._services(tree).items():
            entry: dict = {"labels": labels}
            if isinstance(svc, dict) and "build" in svc:
                build = svc["build"] if isinstance(svc["build"], dict) else {"context": svc["build"]}
                entry["image"] = f"{self.project}-{name}:{commit[:12]}"
                entry["build"] = {**build, "labels": labels}
            services[name] = entry
        path = tree / f".codex-override-{env}.yaml"
        doc: dict = {"services": services}
        version = _version(tree / self.cfg.compose_file)
        if version:  # an override must use the same file format as the file it extends
            doc = {"version": version, **doc}
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path

    def _compose(
        self, env: str, tree: Path, commit: str, *args: str, port: int
    ) -> subprocess.CompletedProcess:
        ecfg = self.env_config(env)
        override = self._override(env, commit, tree)
        env_vars = {
            **os.environ,
            **ecfg.env,
            **self._secrets(ecfg.secrets),
            "APP_PORT": str(port),
            "DEPLOY_ENV": env,
            "DEPLOY_COMMIT": commit,
        }
        cmd = [
            *compose_command(self.cfg.compose_command),
            "-p",
            self.compose_project(env),
            "-f",
            str(tree / self.cfg.compose_file),
            "-f",
            str(override),
            *args,
        ]
        proc = subprocess.run(
            cmd, cwd=tree, env=env_vars, capture_output=True, text=True, timeout=self.cfg.build_timeout_s
        )
        return proc

    def _build_services(self, tree: Path, commit: str) -> None:
        """Build every `build:` service with the SDK (faster than compose's legacy builder), per commit."""
        from docker.errors import APIError, BuildError

        for name, svc in self._services(tree).items():
            if not isinstance(svc, dict) or "build" not in svc:
                continue
            build = svc["build"] if isinstance(svc["build"], dict) else {"context": svc["build"]}
            tag = f"{self.project}-{name}:{commit[:12]}"
            if self._image(tag) is not None:
                continue
            context = (tree / str(build.get("context") or ".")).resolve()
            if not context.is_relative_to(tree.resolve()):
                raise InvalidInput(f"service {name}: build context outside the repository")
            try:
                self.client.images.build(
                    path=str(context),
                    dockerfile=build.get("dockerfile") or "Dockerfile",
                    tag=tag,
                    labels=self.labels(commit=commit),
                    rm=True,
                    forcerm=True,
                    pull=False,
                    buildargs={k: str(v) for k, v in (build.get("args") or {}).items()} or None,
                    timeout=self.cfg.build_timeout_s,
                )
            except (BuildError, APIError) as exc:
                raise DeployError(f"building service {name} failed: {exc}") from None

    def _up(self, env: str, tree: Path, commit: str, port: int, *, build: bool) -> None:
        if build:
            self._build_services(tree, commit)
        args = ["up", "-d", "--remove-orphans", "--no-build", "-t", str(self.cfg.stop_timeout_s)]
        proc = self._compose(env, tree, commit, *args, port=port)
        if proc.returncode != 0:
            tail = " | ".join(proc.stderr.strip().splitlines()[-3:])[:400]
            raise DeployError(f"compose up failed for {env}: {tail}")

    def _app(self, env: str):
        service = self.cfg.service
        filters = {"label": [f"{PROJECT_KEY}={self.compose_project(env)}"]}
        found = self.client.containers.list(all=True, filters=filters)
        if service:
            found = [c for c in found if c.labels.get(SERVICE_KEY) == service]
        else:  # the first service in the file: the state records which one
            wanted = self._state(env).get("service")
            found = [c for c in found if c.labels.get(SERVICE_KEY) == wanted] if wanted else found
        return found[0] if found else None

    def _await_app(self, env: str):
        from runner.deploy.health import health_url, wait_healthy

        ecfg = self.env_config(env)
        deadline = time.monotonic() + 10
        c = self._app(env)
        while c is None and time.monotonic() < deadline:
            time.sleep(0.2)
            c = self._app(env)
        if c is None:
            return None, False, "service container not found", None
        url = health_url(ecfg.health_url, self.host_port(c, env))
        ok, reason = wait_healthy(c, url=url, command=ecfg.health_command, timeout_s=ecfg.health_timeout_s)
        return c, ok, reason, url

    # -- the provider contract ---------------------------------------------------------------------

    def deploy(
        self, env: str, commit: str, context_tar: bytes, *, previous: str | None = None
    ) -> DeployResult:
        t0 = time.monotonic()
        state = self._state(env)
        ecfg = self.env_config(env)
        port = ecfg.port or state.get("port") or free_port()
        tree = self._tree(commit, context_tar)
        service = self._service(tree)
        prev_commit = state.get("current")
        self._save_state(env, {**state, "port": port, "service": service})
        self._up(env, tree, commit, port, build=True)
        c, ok, reason, url = self._await_app(env)
        if ok:
            self._save_state(
                env,
                {
                    "port": port,
                    "service": service,
                    "current": commit,
                    "previous": prev_commit if prev_commit != commit else state.get("previous"),
                },
            )
            self._prune_trees(env)
            return self._result(
                env,
                t0,
                "deployed",
                commit=commit,
                image=(c.image.tags or [c.image.id])[0],
                container=c.name,
                url=url,
                previous_commit=prev_commit,
                message=f"healthy ({reason})",
            )
        message = f"health check failed: {reason}"
        if not prev_commit:
            self._compose(
                env, tree, commit, "down", "--remove-orphans", "-t", str(self.cfg.stop_timeout_s), port=port
            )
            return self._result(
                env,
                t0,
                "failed",
                commit=commit,
                message=message + "; nothing to roll back to",
            )
        self._up(env, self._tree(prev_commit, None), prev_commit, port, build=False)
        c2, ok2, reason2, url2 = self._await_app(env)
        message += f"; rolled back to {prev_commit[:12]} ({'healthy' if ok2 else reason2})"
        return self._result(
            env,
            t0,
            "rolled_back",
            commit=prev_commit,
            container=c2.name if c2 else None,
            url=url2,
            previous_commit=commit,
            message=message,
        )

    def rollback(self, env: str) -> DeployResult:
        t0 = time.monotonic()
        state = self._state(env)
        prev, cur = state.get("previous"), state.get("current")
        if not prev:
            raise StateError(f"nothing to roll back to in {env}: no previous deploy is recorded")
        port = state.get("port") or free_port()
        self._up(env, self._tree(prev, None), prev, port, build=False)
        c, ok, reason, url = self._await_app(env)
        self._save_state(env, {**state, "current": prev, "previous": cur})
        return self._result(
            env,
            t0,
            "deployed" if ok else "failed",
            commit=prev,
            container=c.name if c else None,
            url=url,
            previous_commit=cur,
            message=f"rolled back ({reason})",
        )

    def down(self, env: str) -> None:
        """Stop and remove the env's compose project (tests and teardown)."""
        state = self._state(env)
        cur = state.get("current")
        if cur and (self.state_dir / "trees" / cur[:12]).is_dir():
            self._compose(
                env,
                self._tree(cur, None),
                cur,
                "down",
                "--remove-orphans",
                "-t",
                str(self.cfg.stop_timeout_s),
                port=state.get("port") or 0,
            )

    def _prune_trees(self, env: str) -> None:
        keep = set()
        for name in self.cfg.environments:
            st = self._state(name)
            keep |= {c[:12] for c in (st.get("current"), st.get("previous")) if c}
        trees = self.state_dir / "trees"
        for tree in trees.iterdir() if trees.is_dir() else []:
            if tree.name not in keep:
                shutil.rmtree(tree, ignore_errors=True)


def _version(path: Path) -> str | None:
    try:
        version = (yaml.safe_load(path.read_text()) or {}).get("version")
    except (OSError, yaml.YAMLError):
        return None
    return str(version) if version else None


__all__ = ["ComposeProvider", "compose_command", "APP_LABEL", "COMMIT_LABEL", "ENV_LABEL", "PROJECT_LABEL"]
