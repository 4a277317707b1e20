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

from runner.config.types import (
    BranchName,
    EnvName,
    HttpUrl,
    ImageRef,
    ReachableNetwork,
    SandboxNetwork,
    Slug,
    Text,
)
from runner.config.deploy import DeployConfig
from runner.dictutil import flatten
from runner.errors import InvalidInput
from runner.config.policy import PolicyConfig, default_policy, with_defaults
from sandbox.settings import CommitIdentity, ExtractCaps, LimitsConfig


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class SandboxConfig(Section):
    """How sandbox containers are built and run."""

    base_image: ImageRef = Field(
        "debian:bookworm-slim",
        description="Base image; if absent and not pullable, one is bootstrapped with debootstrap.",
    )
    network: SandboxNetwork = Field(
        "none", description="Container network: none (default), or a Docker network name; host is refused."
    )
    limits: LimitsConfig = Field(default_factory=LimitsConfig, description="Resource limits.")
    extract: ExtractCaps = Field(default_factory=ExtractCaps, description="Caps on the returned tree.")
    pool_size: int = Field(2, ge=0, description="Worktrees kept warm per repo for reuse.")


class LlmConfig(Section):
    """The model endpoint behind the gateway."""

    base_url: HttpUrl = Field(
        "https://api.openai.com/v1", description="OpenAI-compatible base URL (http or https, with a host)."
    )
    model: Slug = Field("gpt-5.5", description="Model slug used by Codex and the planner.")
    allowed_models: list[Slug] | None = Field(
        None,
        description="Model slugs the gateway lets a run's requests name (default: just llm.model); "
        "must include llm.model. Any other model is refused with a 400 and an audit event.",
    )
    api_key_env: EnvName = Field("OPENAI_API_KEY", description="Name of the env var holding the API key.")
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
    gateway_upstream_network: ReachableNetwork = Field(
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

    integration_branch: BranchName | None = Field(
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

    command: Text | None = Field(None, description="Test command (default: detected, pytest or npm test).")
    image: ImageRef | None = Field(None, description="Image for test runs (default: codex-sandbox/python).")
    max_fix_cycles: int = Field(3, ge=0, description="verify fix cycles allowed per task.")
    coverage: bool = Field(True, description="Measure coverage (pytest-cov) when the image has it.")
    network: SandboxNetwork = Field(
        "none", description="Network of the test container: none (default) or a Docker network name; host is refused."
    )
    fetch: Literal["host", "container"] = Field(
        "host",
        description="Where dependencies are downloaded: host (`pip download`, then an offline install step) "
        "or container (the install step alone gets network `install_network`).",
    )
    install_network: SandboxNetwork = Field(
        "bridge", description="Network of the install step when fetch=container (a Docker network name; not host)."
    )
    timeout_s: int = Field(900, ge=1, description="Wall-clock limit of one test run.")


class AppConfig(Section):
    """The whole configuration."""

    sandbox: SandboxConfig = Field(default_factory=SandboxConfig, description="Sandbox containers.")
    llm: LlmConfig = Field(default_factory=LlmConfig, description="Model endpoint.")
    build: BuildConfig = Field(default_factory=BuildConfig, description="Building tasks.")
    verify: VerifyConfig = Field(default_factory=VerifyConfig, description="Test runs.")
    policies: PolicyConfig = Field(
        default_factory=default_policy,
        description="Policy gates: keys set here are merged over policies/default.yaml (mappings key by key; "
        "lists and scalars replace).",
    )
    deploy: DeployConfig = Field(default_factory=DeployConfig, description="Deploy environments and provider.")

    @field_validator("policies", mode="before")
    @classmethod
    def _over_the_default_policies(cls, value: Any) -> Any:
        return with_defaults(value)


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
    return parse_yaml_text(text, path)


def parse_yaml_text(text: str, path: Path | str) -> dict[str, Any]:
    """The mapping a config file's text holds ({} for comments only); InvalidInput naming the line."""
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


def source_of(key: str, sources: dict[str, str]) -> str:
    """The layer a dotted key came from (its own entry, the nearest parent set as a whole, or a child)."""
    probe = key
    while probe:
        if probe in sources:
            return sources[probe]
        probe = probe.rpartition(".")[0]
    return next((s for k, s in sources.items() if k.startswith(key + ".")), "default")


def validate(data: dict[str, Any], sources: dict[str, str] | None = None, label: str = "config") -> AppConfig:
    """AppConfig from merged layers; InvalidInput naming the first bad key, its value, its source
    (`sources[key]`, else `label`) and the accepted form."""
    from runner.config.keys import config_error

    try:
        return AppConfig.model_validate(data)
    except ValidationError as exc:
        raise config_error(exc, lambda key: source_of(key, sources) if sources else label, AppConfig) from None


def load_config(
    project_root: Path | None,
    *,
    config_path: Path | None = None,
    overrides: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
) -> LoadedConfig:
    """Merge every layer and validate; raise InvalidInput naming the key and its source."""
    from runner.config.keys import env_values

    environ = dict(os.environ if environ is None else environ)
    merged: dict[str, Any] = AppConfig().model_dump()
    sources = {key: "default" for key in flatten(merged)}
    layers: list[tuple[str, dict[str, Any]]] = []
    user_file = user_config_path()
    if user_file.is_file():
        layers.append((str(user_file), read_yaml_file(user_file)))
    project_file = config_path or (project_root / ".codex" / "config.yaml" if project_root else None)
    if config_path is not None or (project_file is not None and project_file.is_file()):
        layers.append((str(project_file), read_yaml_file(project_file)))
    for source, layer in layers:
        _merge(merged, layer, source, sources)
    for path, value, name in env_values(environ, AppConfig):
        layer: dict[str, Any] = {}
        _set_dotted(layer, path, value)
        _merge(merged, layer, f"env {name}", sources)
    if overrides:
        _merge(merged, overrides, "flag", sources)
    return LoadedConfig(config=validate(merged, sources), sources=sources)
