"""Value types of the configuration: each checks a value where it enters and says the accepted form.

A field typed with one of these refuses a bad value at `config set`, `config validate` and load alike,
with a message that reads after "config key 'x' = 'value' (source): ".
"""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator

_NETWORK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
# A Docker image reference: [host[:port]/]path[:tag][@digest], path components lowercase.
_IMAGE_REF = re.compile(
    r"^(?:[A-Za-z0-9.-]+(?::[0-9]+)?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_BAD_REF_CHARS = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")
_PROJECT = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
_SLUG = re.compile(r"^\S{1,200}$")


def _text(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty (use null to unset an optional key)")
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    return value


def _slug(value: str) -> str:
    if not _SLUG.match(value):
        raise ValueError("must be one word: no spaces, 1-200 characters (e.g. gpt-5.5)")
    return value


def _network_name(value: str) -> str:
    if not _NETWORK_NAME.match(value):
        raise ValueError("must be none or a Docker network name (letters, digits, _ . -; e.g. bridge)")
    return value


def _sandbox_network(value: str) -> str:
    if value == "host":
        raise ValueError(
            "host is refused: it would give the container this machine's network and every service on its "
            "localhost; use none (no network) or a Docker network name (`docker network create NAME`)"
        )
    return _network_name(value)


def _reachable_network(value: str) -> str:
    if value in ("none", "host"):
        raise ValueError(f"{value} is refused: the gateway joins this network to reach llm.base_url; "
                         "use a Docker network name such as bridge")
    return _network_name(value)


def _http_url(value: str) -> str:
    problem = "must be an http:// or https:// URL with a host, e.g. https://api.openai.com/v1"
    if any(c.isspace() for c in value):
        raise ValueError(problem + " (no spaces)")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number in 0-65535
    except ValueError:
        raise ValueError(problem + " (the port must be a number 1-65535)") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(problem)
    return value


def _image_ref(value: str) -> str:
    if not _IMAGE_REF.match(value):
        raise ValueError("must be a Docker image reference: [registry/]name[:tag][@sha256:digest], "
                         "name in lowercase (e.g. debian:bookworm-slim)")
    return value


def _env_name(value: str) -> str:
    if not _ENV_NAME.match(value):
        raise ValueError("must be an environment variable name: letters, digits and _, not starting with a digit")
    return value


def _branch(value: str) -> str:
    """The rules of `git check-ref-format --branch`, checked without running git."""
    bad = (
        not value or value.startswith(("-", "/")) or value.endswith(("/", ".", ".lock")) or ".." in value
        or "//" in value or "@{" in value or value == "@" or _BAD_REF_CHARS.search(value)
        or any(part.startswith(".") for part in value.split("/"))
    )
    if bad:
        raise ValueError("must be a git branch name (e.g. main or release/1.2): no spaces, ~ ^ : ? * [ \\, "
                         "'..' or '@{', not starting with - or .")
    return value


def _repo_path(value: str) -> str:
    parts = value.replace("\\", "/").split("/")
    if not value.strip() or value.startswith("/") or ".." in parts or "\x00" in value:
        raise ValueError("must be a path inside the repository, relative to its root (e.g. docker/Dockerfile); "
                         "no leading / and no ..")
    return value


def _file_path(value: str) -> str:
    if any(c in value for c in "\n\r\x00"):
        raise ValueError("must be a file path on one line (relative to the repository root, or absolute)")
    return value


def _project(value: str) -> str:
    if not _PROJECT.match(value):
        raise ValueError("must be a project name: lowercase letters, digits, _ . -, starting with a letter or digit")
    return value


def _environment(value: str) -> str:
    if not re.match(r"^[a-z0-9][a-z0-9_-]{0,62}$", value):
        raise ValueError("must be an environment name: lowercase letters, digits, _ and -, e.g. staging")
    return value


def _health_url(value: str) -> str:
    if value.startswith("/"):
        if any(c.isspace() for c in value):
            raise ValueError("must be a path without spaces (e.g. /health)")
        return value
    try:
        _http_url(value.replace("{port}", "8000"))
    except ValueError:
        raise ValueError("must be a path (/health) or an http(s) URL, {port} standing for the published port "
                         "(e.g. http://127.0.0.1:{port}/health)") from None
    return value


Text = Annotated[str, AfterValidator(_text)]
Slug = Annotated[str, AfterValidator(_text), AfterValidator(_slug)]
NetworkName = Annotated[str, AfterValidator(_text), AfterValidator(_network_name)]
SandboxNetwork = Annotated[str, AfterValidator(_text), AfterValidator(_sandbox_network)]
ReachableNetwork = Annotated[str, AfterValidator(_text), AfterValidator(_reachable_network)]
HttpUrl = Annotated[str, AfterValidator(_text), AfterValidator(_http_url)]
ImageRef = Annotated[str, AfterValidator(_text), AfterValidator(_image_ref)]
EnvName = Annotated[str, AfterValidator(_text), AfterValidator(_env_name)]
BranchName = Annotated[str, AfterValidator(_text), AfterValidator(_branch)]
RepoPath = Annotated[str, AfterValidator(_text), AfterValidator(_repo_path)]
FilePath = Annotated[str, AfterValidator(_text), AfterValidator(_file_path)]
ProjectName = Annotated[str, AfterValidator(_text), AfterValidator(_project)]
EnvironmentName = Annotated[str, AfterValidator(_environment)]
HealthUrl = Annotated[str, AfterValidator(_text), AfterValidator(_health_url)]
