"""Entry point: normalise global flags, run the Typer app, and end every command the same way: one
`error: ...` line on stderr and the table's exit code when it fails, and with --json exactly one JSON
document on stdout (the result, the result with an `error` member, or `{"error": ...}` alone)."""

from __future__ import annotations

import json
import sys

GLOBAL_FLAGS = {"--json", "--verbose", "-v", "-vv", "--quiet", "-q", "--dry-run", "--no-color", "--wait"}
GLOBAL_WITH_VALUE = {"--config"}


def normalize_argv(argv: list[str]) -> list[str]:
    """Let global options appear anywhere before `--` by moving them to the front."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest.extend(argv[i:])
            break
        if arg in GLOBAL_FLAGS:
            front.append(arg)
        elif arg in GLOBAL_WITH_VALUE and i + 1 < len(argv):
            front.extend(argv[i : i + 2])
            i += 1
        elif any(arg.startswith(flag + "=") for flag in GLOBAL_WITH_VALUE):
            front.append(arg)
        else:
            rest.append(arg)
        i += 1
    return front + rest


def main(argv: list[str] | None = None) -> int:
    import contextvars

    from runner.cli.context import AppContext

    args = normalize_argv(list(sys.argv[1:] if argv is None else argv))
    options = args[: args.index("--")] if "--" in args else args
    # the root callback fills in the rest
    app = AppContext(json="--json" in options, helping="--help" in options or "-h" in options)
    # A fresh context per call: what a command sets (the lock's --wait) ends with it, also in-process.
    code = contextvars.copy_context().run(_run, args, app)
    if argv is None:
        sys.exit(code)
    return code


def _run(args: list[str], app) -> int:
    import typer
    from typer._click.exceptions import ClickException, NoArgsIsHelpError

    from runner.cli.app import build_command
    from runner.errors import ExitCode

    command = build_command()
    interrupted: list[int] = []
    restore = _catch_interrupts(interrupted)
    failure: tuple[str, int] | None = None
    try:
        # With standalone_mode=False click returns a raised typer.Exit's code instead of raising it.
        rv = command.main(args=args, prog_name="codex-sandbox", standalone_mode=False, obj=app)
        code = rv if isinstance(rv, int) else 0
        if interrupted and code == ExitCode.INTERRUPTED:  # typer made our KeyboardInterrupt an Exit(130)
            failure = ("interrupted", ExitCode.INTERRUPTED)
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.Abort:
        if interrupted:
            failure = ("interrupted", ExitCode.INTERRUPTED)
        else:  # end of input (Ctrl-D, a closed pipe) where a prompt waited for an answer
            failure = ("no answer: input ended at a prompt (pass the flag the prompt stands for, e.g. --approve)",
                       ExitCode.INVALID_INPUT)
    except NoArgsIsHelpError as exc:  # a bare group: its whole help, as click shows it
        sys.stderr.write(exc.ctx.get_help() + "\n")
        code = ExitCode.INVALID_INPUT
        if app.json:
            failure = (f"missing command: see `{exc.ctx.command_path} --help`", code)
        else:
            return code
    except ClickException as exc:  # usage errors (click, as vendored by typer): exit 2
        ctx = getattr(exc, "ctx", None)
        if exc.format_message() == "Missing command." and ctx is not None:  # `codex-sandbox -v`: help too
            sys.stderr.write(ctx.get_help() + "\n")
            failure = (f"missing command: see `{ctx.command_path} --help`", ExitCode.INVALID_INPUT)
        else:
            failure = (exc.format_message(), getattr(exc, "exit_code", ExitCode.INVALID_INPUT))
    except KeyboardInterrupt:
        failure = ("interrupted", ExitCode.INTERRUPTED)
    except Exception as exc:  # noqa: BLE001 - the edge: every error becomes one line and a table code
        if _expected(exc):
            from runner.cli.translate import describe

            failure = describe(exc)
        else:  # a bug: say so, and keep the traceback for -v
            _log_traceback(exc)
            failure = (f"internal error: {type(exc).__name__}: {exc} (a bug; -v shows the traceback)",
                       ExitCode.FAILED)
    finally:
        restore()
    if failure is not None:
        code = int(failure[1])
    _report(app, int(code), failure[0] if failure else None)
    return int(code)


def _expected(exc: BaseException) -> bool:
    """Domain errors and tool errors the translation knows; anything else is a bug worth a traceback."""
    import subprocess

    from runner.errors import RunnerError
    from sandbox.errors import SandboxError

    module = type(exc).__module__ or ""
    return (isinstance(exc, RunnerError | SandboxError | OSError | subprocess.CalledProcessError)
            or module.startswith(("pydantic", "docker", "requests", "urllib3")))


def _log_traceback(exc: BaseException) -> None:
    import logging

    logging.getLogger("runner.cli").debug("unexpected error", exc_info=exc)


def _report(app, code: int, message: str | None) -> None:
    """The end of every command: the error line on stderr, and the one JSON document with --json."""
    line = " ".join(str(message).split()) if message else None
    if line is not None:
        sys.stderr.write(f"error: {line}\n")
    if not app.json:
        return
    doc = app.result if app.has_result else None
    if code != 0:
        error = {"message": line or _message_of(doc) or f"failed (exit {code})", "exit_code": code}
        if isinstance(doc, dict):
            doc = {**doc, "error": error}
        elif doc is None:
            doc = {"error": error}
        else:
            doc = {"result": doc, "error": error}
    elif doc is None:
        if app.helping:
            return
        doc = {}
    sys.stdout.write(json.dumps(_finite(doc), indent=2, default=str) + "\n")
    sys.stdout.flush()


def _finite(value):
    """NaN and infinities are not JSON: they become null."""
    if isinstance(value, float):
        import math

        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _message_of(doc) -> str | None:
    """The failure a result already states (a build's `error`), for commands that printed their own line."""
    if isinstance(doc, dict):
        for key in ("error", "reason", "message"):
            text = doc.get(key)
            if isinstance(text, str) and text.strip():
                return " ".join(text.split())
    return None


def _catch_interrupts(seen: list[int]):
    """SIGINT and SIGTERM raise KeyboardInterrupt, noted in `seen`; returns what restores the old handlers."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def _interrupt(signum, frame):
        seen.append(signum)
        raise KeyboardInterrupt

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(sig) is not signal.SIG_IGN:  # `nohup`, background jobs: stay ignored
            previous[sig] = signal.signal(sig, _interrupt)

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


if __name__ == "__main__":
    main()
