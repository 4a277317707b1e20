"""One exception base for the runner; each subclass maps to one of the seed's exit codes."""

from __future__ import annotations


class RunnerError(Exception):
    """Base of every error raised by `runner`; `exit_code` is the seed's code."""

    exit_code = 1


class InvalidInput(RunnerError):
    """Bad arguments, a bad file or a bad config value."""

    exit_code = 2


class PolicyViolation(RunnerError):
    """A gate blocked a change, or an action needs an approval it lacks."""

    exit_code = 3


class ExternalServiceError(RunnerError):
    """The Docker engine, the model or another service failed."""

    exit_code = 4


class StateError(RunnerError):
    """The lifecycle state, or the repo lock, does not allow this command."""

    exit_code = 5
