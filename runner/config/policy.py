"""Policy configuration: policies/default.yaml merged with the `policies:` section of the config."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from runner.config.types import FilePath, Text
from runner.dictutil import deep_merge
from runner.errors import InvalidInput

POLICIES_DIR = Path(__file__).resolve().parents[2] / "policies"
DEFAULT_POLICY_FILE = POLICIES_DIR / "default.yaml"
BUILTIN_RULES_DIR = POLICIES_DIR / "semgrep"
ADVISORIES_FILE = POLICIES_DIR / "advisories.yaml"
LICENSES_FILE = POLICIES_DIR / "licenses.yaml"
TRUST_FILE = POLICIES_DIR / "trust.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _rule_code(value: str) -> str:
    if not re.match(r"^[A-Z]+[0-9]*$", value):
        raise ValueError("must be a ruff rule code or prefix (E9, F, F401)")
    return value


RuleCode = Annotated[str, AfterValidator(_rule_code)]


class SecretPattern(_Strict):
    """A configured secret regex, checked on added lines."""

    id: Text = Field(description="Rule id reported in findings (prefixed with secret.).")
    regex: str = Field(description="Python regular expression.")
    description: str = Field("", description="What the pattern finds.")

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regex: {exc}") from None
        return value


class SecretsPolicy(_Strict):
    """Secret scanning on added lines."""

    enabled: bool = Field(True, description="Scan added lines for secrets.")
    blocking: bool = Field(True, description="A secret added by the change blocks it.")
    detect_secrets: bool = Field(True, description="Use detect-secrets' plugins as well as the patterns.")
    entropy_plugins: bool = Field(False, description="Enable detect-secrets' high-entropy string plugins.")
    patterns: list[SecretPattern] = Field(default_factory=list, description="Extra secret regexes.")
    placeholders: list[Text] = Field(
        default_factory=list, description="Case-insensitive substrings that mark a value as a placeholder."
    )
    exclude_paths: list[Text] = Field(default_factory=list, description="Globs of paths not scanned.")


class SemgrepPolicy(_Strict):
    """Semgrep on the changed files, offline."""

    enabled: bool = Field(True, description="Run semgrep on changed files.")
    blocking: bool = Field(True, description="Findings at a blocking severity block the change.")
    blocking_severities: list[Literal["ERROR", "WARNING", "INFO"]] = Field(
        default_factory=lambda: ["ERROR"], description="Severities that block; the others warn."
    )
    rules: list[FilePath] = Field(
        default_factory=list, description="Extra rule files/dirs (relative to the repo root, or absolute)."
    )
    builtin_rules: bool = Field(True, description="Use the project's rules in policies/semgrep.")
    timeout_s: float = Field(60.0, gt=0, description="Wall-clock limit of one semgrep run.")


class DependencyPolicy(_Strict):
    """Audit of changed dependency files."""

    enabled: bool = Field(True, description="Audit changed dependency files.")
    blocking: bool = Field(True, description="A known-bad version blocks the change.")
    require_pinning: bool = Field(True, description="Report dependencies without an exact version.")
    pinning_blocking: bool = Field(False, description="An unpinned dependency blocks (else warns).")
    advisories: FilePath | None = Field(None, description="Extra advisory YAML (repo-relative, or absolute).")
    online_audit: bool = Field(False, description="Also run pip-audit (needs the network; else 'not run').")


class ToolFile(_Strict):
    """One class of tool-trust files (policies/trust.yaml): paths a program runs or trusts on entry."""

    id: Text = Field(description="Short name of the class, shown in findings (e.g. env-loader).")
    paths: list[Text] = Field(description="Case-insensitive names, `dir/` prefixes or path suffixes (fnmatch globs).")
    lines: str | None = Field(None, description="Regex: only a change adding a matching line counts.")
    why: Text = Field(description="What runs or trusts these files; the finding's message.")

    @field_validator("lines")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        try:
            re.compile(value or "")
        except re.error as exc:
            raise ValueError(f"not a valid regex: {exc}") from None
        return value


class TrustPolicy(_Strict):
    """Repository-shaped directories, `.git`/`gitdir:` files and tool-trust files in a change."""

    enabled: bool = Field(True, description="Look for files git and other tools would run or trust on entry.")
    blocking: bool = Field(True, description="Such a file outside the task's target files blocks (else warns).")
    table: FilePath | None = Field(
        None, description="Extra tool-trust table (YAML, as policies/trust.yaml), repo-relative or absolute."
    )
    disabled: list[Text] = Field(default_factory=list, description="Ids of tool-trust table entries not applied.")


class SecurityPolicy(_Strict):
    """The security gate."""

    secrets: SecretsPolicy = Field(default_factory=SecretsPolicy, description="Secret scanning.")
    semgrep: SemgrepPolicy = Field(default_factory=SemgrepPolicy, description="Semgrep rules.")
    dependencies: DependencyPolicy = Field(default_factory=DependencyPolicy, description="Dependency audit.")
    trust: TrustPolicy = Field(default_factory=TrustPolicy, description="Repository-shaped and tool-trust files.")


class LintPolicy(_Strict):
    """ruff on changed Python files."""

    enabled: bool = Field(True, description="Lint changed Python files with ruff.")
    blocking: bool = Field(False, description="Lint errors block (else warn).")
    select: list[RuleCode] = Field(default_factory=lambda: ["E9", "F"], description="ruff rule codes to select.")


class CoveragePolicy(_Strict):
    """Coverage threshold, once a verify run reports coverage."""

    enabled: bool = Field(True, description="Check coverage when a verify run reported it.")
    blocking: bool = Field(False, description="Coverage below the minimum blocks (else warns).")
    min_percent: float = Field(80.0, ge=0, le=100, description="Minimum line coverage in percent.")


class QualityPolicy(_Strict):
    """The quality gate."""

    lint: LintPolicy = Field(default_factory=LintPolicy, description="Linting.")
    coverage: CoveragePolicy = Field(default_factory=CoveragePolicy, description="Coverage threshold.")


class SafetyPolicy(_Strict):
    """Size and path limits of one change."""

    enabled: bool = Field(True, description="Apply the safety limits.")
    blocking: bool = Field(True, description="A breached limit blocks the change.")
    max_files: int = Field(50, ge=1, description="Files one change (task) may touch.")
    max_diff_lines: int = Field(2000, ge=1, description="Added plus removed lines one change may have.")
    prohibited_paths: list[Text] = Field(default_factory=list, description="Globs no change may touch.")
    restrict_to_target_files: bool = Field(
        True, description="Block changes outside the task's target_files when it names them."
    )
    allow_binary: bool = Field(False, description="Allow binary files in a change.")
    binary_blocking: bool = Field(True, description="A binary file blocks (else warns) when not allowed.")


class LicensePolicy(_Strict):
    """Licences of newly added dependencies."""

    enabled: bool = Field(True, description="Check licences of newly added dependencies.")
    blocking: bool = Field(True, description="A licence outside the allow list blocks.")
    allowed: list[Text] = Field(default_factory=list, description="Allowed SPDX licence ids.")
    unknown: Literal["warn", "block", "ignore"] = Field(
        "warn", description="What a licence that cannot be found offline does."
    )
    table: FilePath | None = Field(None, description="Extra package -> licence YAML (repo-relative, or absolute).")


class CompliancePolicy(_Strict):
    """The compliance gate."""

    licenses: LicensePolicy = Field(default_factory=LicensePolicy, description="Licence allow list.")


class PolicyConfig(_Strict):
    """The four policy types."""

    security: SecurityPolicy = Field(default_factory=SecurityPolicy, description="Secrets, semgrep, deps, trust.")
    quality: QualityPolicy = Field(default_factory=QualityPolicy, description="Lint and coverage.")
    safety: SafetyPolicy = Field(default_factory=SafetyPolicy, description="Size and path limits.")
    compliance: CompliancePolicy = Field(default_factory=CompliancePolicy, description="Licences.")

    def digest(self) -> str:
        """A stable hash of the whole policy, for caches and manifests."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def read_default_policies(path: Path = DEFAULT_POLICY_FILE) -> dict[str, Any]:
    """The `policies:` mapping of a policy YAML file; a bad file is one line."""
    if path == DEFAULT_POLICY_FILE:
        return copy.deepcopy(_default_policy_data())
    return _read_policy_file(path)


@lru_cache(maxsize=1)
def _default_policy_data() -> dict[str, Any]:
    return _read_policy_file(DEFAULT_POLICY_FILE)


def _read_policy_file(path: Path) -> dict[str, Any]:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader reads default.yaml 4x faster
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput(f"policy file {path}: {str(exc).splitlines()[0]}") from None
    section = data.get("policies") if isinstance(data, dict) else None
    if not isinstance(section, dict):
        raise InvalidInput(f"policy file {path}: needs a top-level 'policies:' mapping")
    return section


@lru_cache(maxsize=1)
def _default_policy() -> PolicyConfig:
    return validate_policies(_default_policy_data(), str(DEFAULT_POLICY_FILE))


def default_policy() -> PolicyConfig:
    """policies/default.yaml as a PolicyConfig (the `policies:` section of a config that sets none)."""
    return _default_policy().model_copy(deep=True)


def with_defaults(section: Any) -> Any:
    """A `policies:` mapping laid over policies/default.yaml (mappings merge key by key; lists and
    scalars replace); anything else is returned for validation to refuse."""
    if isinstance(section, dict):
        return deep_merge(_default_policy_data(), section)
    return section


def validate_policies(data: dict[str, Any], origin: str = "config") -> PolicyConfig:
    """Validate a merged policies mapping; raise InvalidInput naming the key."""
    try:
        return PolicyConfig.model_validate(data)
    except ValidationError as exc:
        key, _, msg = _one_line(exc, "policies").partition(": ")
        raise InvalidInput(f"policy key {key!r} ({origin}): {msg}") from None


def policy_problem(section: Any, prefix: str = "policies") -> str | None:
    """One line naming the first bad key of a `policies:` overrides mapping merged over the defaults, or None."""
    if not isinstance(section, dict):
        return f"{prefix}: must be a mapping of policy keys (security, quality, safety, compliance)"
    try:
        PolicyConfig.model_validate(with_defaults(section))
    except ValidationError as exc:
        return _one_line(exc, prefix)
    return None


def _one_line(exc: ValidationError, prefix: str) -> str:
    """`key: problem and accepted form` for the first error, the key under `prefix`."""
    from runner.config.keys import dotted, problem

    err = exc.errors()[0]
    return f"{dotted((prefix, *err['loc']))}: {problem(err, PolicyConfig, ('policies',))}"


def load_policy_config(
    section: PolicyConfig | dict[str, Any] | None = None, *, overlay: dict[str, Any] | None = None
) -> PolicyConfig:
    """The effective policy: the config's validated `policies:` (or a `policies:` mapping merged over
    policies/default.yaml, or None: the defaults), with `overlay` (deploy.policies) laid over it."""
    if isinstance(section, PolicyConfig):
        policy = section
    elif section is None:
        policy = default_policy()
    elif isinstance(section, dict):
        policy = validate_policies(with_defaults(section))
    else:
        raise InvalidInput("config key 'policies': must be a mapping")
    if overlay:
        policy = validate_policies(deep_merge(policy.model_dump(), overlay), "deploy.policies")
    return policy
