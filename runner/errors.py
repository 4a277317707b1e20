"""The exit-code table (the README's) and the one exception base of the runner; every error class of
`runner` and `sandbox` maps to a code here and nowhere else."""

from __future__ import annotations

from enum import IntEnum

from sandbox import errors as sx


class ExitCode(IntEnum):
    """The README's "Exit codes" table, as numbers."""

    OK = 0
    FAILED = 1
    INVALID_INPUT = 2
    POLICY_VIOLATION = 3
    EXTERNAL_SERVICE = 4
    STATE = 5
    INTERRUPTED = 130


# What each code means: the README's table says exactly this (a test compares them row by row).
MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "success",
    ExitCode.FAILED: "general error (or: tests failed, for `verify run`; a sandboxed command failed)",
    ExitCode.INVALID_INPUT: "invalid arguments or input (a bad flag, value, file, revision, or a repo with no commits)",
    ExitCode.POLICY_VIOLATION: "policy violation (a gate blocked, a hostile tree was refused, an approval is missing)",
    ExitCode.EXTERNAL_SERVICE: "external service error (Docker engine, image, container, model, upstream, token budget)",
    ExitCode.STATE: "state machine error (wrong lifecycle state, repo locked)",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C or SIGTERM; the Unix convention 128 + SIGINT)",
}


class RunnerError(Exception):
    """Base of every error raised by `runner`; `exit_code` is a row of the table."""

    exit_code: ExitCode = ExitCode.FAILED


class InvalidInput(RunnerError):
    """Bad arguments, a bad file or a bad config value."""

    exit_code = ExitCode.INVALID_INPUT


class PolicyViolation(RunnerError):
    """A gate blocked a change, or an action needs an approval it lacks."""

    exit_code = ExitCode.POLICY_VIOLATION


class ExternalServiceError(RunnerError):
    """The Docker engine, the model or another service failed."""

    exit_code = ExitCode.EXTERNAL_SERVICE


class StateError(RunnerError):
    """The lifecycle state, or the repo lock, does not allow this command."""

    exit_code = ExitCode.STATE


class CommandFailed(RunnerError):
    """A command produced its result, and the result is a failure (tests failed, a build blocked)."""

    def __init__(self, message: str, exit_code: int = ExitCode.FAILED):
        super().__init__(message)
        self.exit_code = ExitCode(exit_code)


# The sandbox package never imports runner, so its classes get their codes here. Every class in
# sandbox/errors.py is listed (a test checks it), so a new one needs a deliberate row.
SANDBOX_EXIT_CODES: dict[type[sx.SandboxError], ExitCode] = {
    sx.SandboxError: ExitCode.FAILED,
    sx.EngineUnavailable: ExitCode.EXTERNAL_SERVICE,
    sx.ImageError: ExitCode.EXTERNAL_SERVICE,
    sx.ContainerError: ExitCode.EXTERNAL_SERVICE,
    sx.GatewayError: ExitCode.EXTERNAL_SERVICE,
    sx.BudgetExceeded: ExitCode.EXTERNAL_SERVICE,
    sx.WorktreeError: ExitCode.FAILED,
    sx.MergeConflict: ExitCode.FAILED,
    sx.HostileTreeError: ExitCode.POLICY_VIOLATION,
}


def exit_code_for(exc: BaseException) -> ExitCode:
    """The table's code for a runner or sandbox error (FAILED for anything else)."""
    if isinstance(exc, RunnerError):
        return ExitCode(exc.exit_code)
    if isinstance(exc, KeyboardInterrupt):
        return ExitCode.INTERRUPTED
    for cls in type(exc).__mro__:
        if cls in SANDBOX_EXIT_CODES:
            return SANDBOX_EXIT_CODES[cls]
    return ExitCode.FAILED
