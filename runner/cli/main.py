"""Entry point: normalise global flags, run the Typer app, turn every error into one line and an exit code."""

from __future__ import annotations

import json
import sys

GLOBAL_FLAGS = {"--json", "--verbose", "-v", "-vv", "--quiet", "-q", "--dry-run", "--no-color"}
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


def exit_code_for(exc: BaseException) -> int:
    """The one place where domain errors become the seed's exit codes."""
    from runner.errors import RunnerError
    from sandbox import errors as sx

    if isinstance(exc, RunnerError):
        return exc.exit_code
    if isinstance(exc, sx.HostileTreeError):
        return 3
    if isinstance(exc, (sx.EngineUnavailable, sx.GatewayError, sx.ImageError)):
        return 4
    return 1


def main(argv: list[str] | None = None) -> int:
    import typer
    from typer.exceptions import TyperException

    from runner.cli.app import build_command
    from runner.errors import RunnerError
    from sandbox.errors import SandboxError

    args = normalize_argv(list(sys.argv[1:] if argv is None else argv))
    as_json = "--json" in args[: args.index("--")] if "--" in args else "--json" in args
    command = build_command()
    interrupted: list[int] = []
    restore = _catch_interrupts(interrupted)
    try:
        # With standalone_mode=False click returns a raised typer.Exit's code instead of raising it.
        rv = command.main(args=args, prog_name="codex-sandbox", standalone_mode=False)
        code = rv if isinstance(rv, int) else 0
        if interrupted and code == 130:  # typer turned our KeyboardInterrupt into a silent Exit(130)
            _fail("interrupted", 130, as_json)
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.Abort:
        _fail("aborted", 130, as_json)
        code = 130
    except TyperException as exc:  # click's usage errors (vendored by typer): exit 2
        code = getattr(exc, "exit_code", 2)
        _fail(exc.format_message() if hasattr(exc, "format_message") else str(exc), code, as_json)
    except (RunnerError, SandboxError) as exc:
        code = exit_code_for(exc)
        _fail(str(exc), code, as_json)
    except KeyboardInterrupt:
        _fail("interrupted", 130, as_json)
        code = 130
    finally:
        restore()
    if argv is None:
        sys.exit(code)
    return code


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


def _fail(message: str, code: int, as_json: bool) -> None:
    line = " ".join(str(message).split()) or "failed"
    if as_json:
        sys.stdout.write(json.dumps({"error": {"message": line, "exit_code": code}}) + "\n")
    sys.stderr.write(f"error: {line}\n")


if __name__ == "__main__":
    main()
