"""Layered configuration: defaults < ~/.codex/config.yaml < .codex/config.yaml < CODEX_* env < flags.

`load_config` returns the validated `AppConfig` plus where every value came from, so
`config show` can say it and a bad value gets one line naming the key and its source.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from runner.deploy.config import DeployConfig
from runner.errors import InvalidInput
from sandbox.settings import CommitIdentity, ExtractCaps, LimitsConfig


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SandboxConfig(Section):
    """How sandbox containers are built and run."""

    base_image: str = Field(
        "debian:bookworm-slim",
        description="Base image; if absent and not pullable, one is bootstrapped with debootstrap.",
    )
    network: str = Field("none", description="Container network: none (default), or a Docker network name.")
    limits: LimitsConfig = Field(default_factory=LimitsConfig, description="Resource limits.")
    extract: ExtractCaps = Field(default_factory=ExtractCaps, description="Caps on the returned tree.")
    pool_size: int = Field(2, ge=0, description="Worktrees kept warm per repo for reuse.")


class LlmConfig(Section):
    """The model endpoint behind the gateway."""

    base_url: str = Field("https://api.openai.com/v1", description="OpenAI-compatible base URL.")
    model: str = Field("gpt-5.5", description="Model slug used by Codex and the planner.")
    allowed_models: list[str] | None = Field(
        None,
        description="Model slugs the gateway lets a run's requests name (default: just llm.model); "
        "must include llm.model. Any other model is refused with a 400 and an audit event.",
    )
    api_key_env: str = Field("OPENAI_API_KEY", description="Name of the env var holding the API key.")
    mode: Literal["live", "replay"] = Field(
        "live", description="live: call the model and record; replay: answer only from .codex/cache."
    )
    task_token_budget: int = Field(2_000_000, ge=1, description="Tokens one task may spend over all runs.")
    run_token_budget: int = Field(500_000, ge=1, description="Tokens one run may spend.")
    request_timeout_s: float = Field(300.0, gt=0, description="Upstream timeout of one model request.")
    gateway: Literal["auto", "socket", "sidecar"] = Field(
        "auto",
        description="Where the gateway runs: socket (host process, Unix socket mounted into the Codex "
        "container), sidecar (a container on a per-repo internal network), auto (sidecar only when "
        "DOCKER_HOST names another machine).",
    )
    gateway_upstream_network: str = Field(
        "bridge", description="Docker network the sidecar gateway uses to reach llm.base_url (sidecar mode)."
    )

    @field_validator("allowed_models", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):  # CODEX_LLM_ALLOWED_MODELS=a,b
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("allowed_models")
    @classmethod
    def _includes_the_model(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        model = info.data.get("model")
        if value is not None and model is not None and model not in value:
            raise ValueError(f"must include llm.model ({model!r}), or Codex's own requests are refused")
        return value

    def models_allowed(self) -> list[str]:
        """The gateway's model allow-list: llm.allowed_models, or just llm.model when unset."""
        return list(self.allowed_models) if self.allowed_models else [self.model]


class BuildConfig(Section):
    """How tasks are built and merged."""

    integration_branch: str | None = Field(
        None, description="Branch task commits merge into (default: the branch checked out at init)."
    )
    max_attempts: int = Field(3, ge=1, description="Attempts per task before it is failed.")
    identity: CommitIdentity = Field(
        default_factory=CommitIdentity,
        description="Author/committer of the product's commits when git has no user.name/user.email "
        "configured (the user's own identity is used when it is).",
    )


class VerifyConfig(Section):
    """How the project's tests are run."""

    command: str | None = Field(None, description="Test command (default: detected, pytest or npm test).")
    image: str | None = Field(None, description="Image for test runs (default: codex-sandbox/python).")
    max_fix_cycles: int = Field(3, ge=0, description="verify fix cycles allowed per task.")
    coverage: bool = Field(True, description="Measure coverage (pytest-cov) when the image has it.")
    network: str = Field("none", description="Network of the test container (none by default).")
    fetch: Literal["host", "container"] = Field(
        "host",
        description="Where dependencies are downloaded: host (`pip download`, then an offline install step) "
        "or container (the install step alone gets network `install_network`).",
    )
    install_network: str = Field("bridge", description="Network of the install step when fetch=container.")
    timeout_s: int = Field(900, ge=1, description="Wall-clock limit of one test run.")


class AppConfig(Section):
    """The whole configuration."""

    sandbox: SandboxConfig = Field(default_factory=SandboxConfig, description="Sandbox containers.")
    llm: LlmConfig = Field(default_factory=LlmConfig, description="Model endpoint.")
    build: BuildConfig = Field(default_factory=BuildConfig, description="Building tasks.")
    verify: VerifyConfig = Field(default_factory=VerifyConfig, description="Test runs.")
    policies: dict[str, Any] = Field(default_factory=dict, description="Policy overrides (see policies/).")
    deploy: DeployConfig = Field(default_factory=DeployConfig, description="Deploy environments and provider.")


class LoadedConfig(BaseModel):
    """A validated config and the layer each dotted key came from."""

    config: AppConfig
    sources: dict[str, str]


def user_config_path() -> Path:
    return Path(os.environ.get("HOME", "~")).expanduser() / ".codex" / "config.yaml"


def read_yaml_file(path: Path) -> dict[str, Any]:
    """Read a YAML mapping; any problem is one clear line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read config {path}: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise InvalidInput(f"config {path}{where}: not valid YAML") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidInput(f"config {path}: top level must be a mapping")
    return data


def _env_layer(environ: dict[str, str]) -> dict[str, Any]:
    """Map CODEX_SECTION_KEY=... onto config keys, matching field names greedily."""
    layer: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith("CODEX_"):
            continue
        path = _match_env_path(AppConfig, name[len("CODEX_"):].lower().split("_"))
        if path:
            _set_dotted(layer, path, value)
    return layer


def _match_env_path(model: type[BaseModel], tokens: list[str]) -> list[str] | None:
    for cut in range(len(tokens), 0, -1):
        key = "_".join(tokens[:cut])
        field = model.model_fields.get(key)
        if field is None:
            continue
        rest = tokens[cut:]
        if not rest:
            return [key]
        sub = field.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            tail = _match_env_path(sub, rest)
            if tail:
                return [key, *tail]
    return None


def _set_dotted(tree: dict[str, Any], path: list[str], value: Any) -> None:
    for key in path[:-1]:
        tree = tree.setdefault(key, {})
    tree[path[-1]] = value


def _merge(base: dict[str, Any], layer: dict[str, Any], source: str, sources: dict[str, str], prefix=""):
    for key, value in layer.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value, source, sources, dotted + ".")
        else:
            base[key] = copy.deepcopy(value)
            for old in [k for k in sources if k.startswith(dotted + ".")]:
                del sources[old]
            sources[dotted] = source


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def load_config(
    project_root: Path | None,
    *,
    config_path: Path | None = None,
    overrides: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
) -> LoadedConfig:
    """Merge every layer and validate; raise InvalidInput naming the key and its source."""
    environ = dict(os.environ if environ is None else environ)
    merged: dict[str, Any] = AppConfig().model_dump()
    sources = {key: "default" for key in _flatten(merged)}
    layers: list[tuple[str, dict[str, Any]]] = []
    user_file = user_config_path()
    if user_file.is_file():
        layers.append((str(user_file), read_yaml_file(user_file)))
    project_file = config_path or (project_root / ".codex" / "config.yaml" if project_root else None)
    if config_path is not None or (project_file is not None and project_file.is_file()):
        layers.append((str(project_file), read_yaml_file(project_file)))
    layers.append(("env", _env_layer(environ)))
    if overrides:
        layers.append(("flag", overrides))
    for source, layer in layers:
        _merge(merged, layer, source, sources)
    try:
        config = AppConfig.model_validate(merged)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        origin = sources.get(key) or next(
            (s for k, s in sources.items() if key.startswith(k + ".") or k.startswith(key + ".")), "config"
        )
        raise InvalidInput(f"config key {key!r} ({origin}): {err['msg']}") from None
    return LoadedConfig(config=config, sources=sources)
