"""Tool text into one line naming the cause and the fix, at the CLI edge.

Git, Docker, pydantic and tini speak for themselves (`fatal: Needed a single revision`,
`('Connection aborted.', FileNotFoundError(2, ...))`, `[FATAL tini (7)] exec pytest failed`); the user
needs what went wrong and what to type. Everything that ends a command passes `describe` in
runner/cli/main.py; results that carry tool text (a sandboxed command's output) call the helpers here.
"""

from __future__ import annotations

import re
from pathlib import Path

from runner.errors import ExitCode, exit_code_for

_DUBIOUS = re.compile(r"detected dubious ownership in repository at '([^']+)'")
_UNKNOWN_REV = re.compile(
    r"unknown (?:base revision|commit) '([^']+)'"
    r"|ambiguous argument '([^']+)': unknown revision"
    r"|bad revision '([^']+)'"
)
_TINI = re.compile(r"\[FATAL tini \(\d+\)\] exec (\S+) failed: (.+)")


def one_line(text: object) -> str:
    return " ".join(str(text).split())


def describe(exc: BaseException) -> tuple[str, ExitCode]:
    """The one line and the exit code for an exception that ends a command."""
    if _is_validation_error(exc):
        return validation_line(exc), ExitCode.INVALID_INPUT
    module = type(exc).__module__ or ""
    if module.startswith(("docker.", "requests.", "urllib3.")):
        return docker_line(exc)
    if _is_called_process_error(exc):
        return refine(_process_line(exc), ExitCode.FAILED)
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror.lower()}{where}", ExitCode.FAILED
    return refine(one_line(exc) or type(exc).__name__, exit_code_for(exc))


def refine(message: str, code: ExitCode) -> tuple[str, ExitCode]:
    """Replace tool text inside a message by its cause and fix (and the code the cause deserves)."""
    dubious = _DUBIOUS.search(message)
    if dubious:
        return safe_directory_line(dubious.group(1)), ExitCode.INVALID_INPUT
    if "Needed a single revision" in message or _UNKNOWN_REV.search(message):
        match = _UNKNOWN_REV.search(message)
        rev = next((g for g in match.groups() if g), None) if match else None
        return unknown_revision_line(rev), ExitCode.INVALID_INPUT
    if "does not have any commits yet" in message:
        return no_commits_line(None), ExitCode.INVALID_INPUT
    if "Connection aborted" in message or "Error while fetching server API version" in message:
        from sandbox.docker.client import unreachable_message

        return unreachable_message(message), ExitCode.EXTERNAL_SERVICE
    return message, code


def dubious_ownership(stderr: str) -> str | None:
    """git's "detected dubious ownership" as the safe.directory fix, else None."""
    match = _DUBIOUS.search(stderr or "")
    return safe_directory_line(match.group(1)) if match else None


def safe_directory_line(path: str) -> str:
    return (f"git refuses the repository at {path}: it belongs to another user (git's safe.directory check); "
            f"if you trust it, run `git config --global --add safe.directory {path}`")


def unknown_revision_line(rev: str | None, flag: str | None = None) -> str:
    if rev in ("HEAD", "HEAD^{commit}"):
        return no_commits_line(None)
    name = f"unknown revision {rev!r}" if rev else "unknown revision"
    via = f" ({flag})" if flag else ""
    return (f"{name}{via}: no commit, branch or tag has that name here; "
            "see `git log --oneline` and `git branch -a`")


def no_commits_line(root: Path | None) -> str:
    where = f"the repository {root}" if root else "the repository"
    return (f"{where} has no commit yet: make a first commit "
            "(`git add -A && git commit -m initial`), then run this again")


def validation_line(exc) -> str:
    """A pydantic ValidationError as `invalid FIELD: why (got VALUE)` (+N more)."""
    errors = exc.errors()
    if not errors:
        return one_line(exc)
    first = errors[0]
    field = ".".join(str(p) for p in first.get("loc", ())) or exc.title
    got = first.get("input")
    shown = "" if isinstance(got, dict | list) or got is None else f" (got {str(got)[:80]!r})"
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"invalid {field}: {first.get('msg', 'invalid value')}{shown}{more}"


def docker_line(exc: BaseException) -> tuple[str, ExitCode]:
    """An exception from the Docker SDK (or the HTTP stack under it) that escaped the sandbox package."""
    from sandbox.docker.client import unreachable_message

    text = one_line(exc)
    name = type(exc).__name__
    if name in ("ConnectionError", "ProtocolError", "ReadTimeout", "ConnectTimeout") or "Connection" in text:
        return unreachable_message(text), ExitCode.EXTERNAL_SERVICE
    explanation = getattr(exc, "explanation", None)
    if explanation:
        return f"the Docker engine refused: {one_line(explanation)}", ExitCode.EXTERNAL_SERVICE
    if name == "DockerException":
        return unreachable_message(text), ExitCode.EXTERNAL_SERVICE
    return f"Docker: {text}", ExitCode.EXTERNAL_SERVICE


def missing_program(output: str, image: str) -> str | None:
    """tini's `exec X failed` (the command is not in the image) as the image to use instead, else None."""
    match = _TINI.search(output or "")
    if not match:
        return None
    program, why = match.group(1), match.group(2).strip()
    if "No such file" not in why:
        return f"{program} cannot be started in image {image}: {why}"
    hint = ("use --image codex-sandbox/python (python3, pip, pytest)"
            if "codex-sandbox/python" not in image else "install it in the image, or use --image with one that has it")
    return f"{program} not found in image {image}; {hint}"


def _is_validation_error(exc: BaseException) -> bool:
    return type(exc).__name__ == "ValidationError" and (type(exc).__module__ or "").startswith("pydantic")


def _is_called_process_error(exc: BaseException) -> bool:
    import subprocess

    return isinstance(exc, subprocess.CalledProcessError)


def _process_line(exc) -> str:
    cmd = exc.cmd if isinstance(exc.cmd, str) else " ".join(str(c) for c in exc.cmd[:3])
    stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
    last = [line for line in stderr.splitlines() if line.strip()]
    return f"{cmd} failed (exit {exc.returncode})" + (f": {last[-1].strip()}" if last else "")
