"""-v/--verbose: the standard library's logging for `runner` and `sandbox`, to stderr and to run folders.

Modules log with `logging.getLogger(__name__)`; a record that names its run folder
(`extra={"run_dir": path}`) is also appended to that folder's `runner.log`, whatever the verbosity
(info and up; debug too with -v). Levels on stderr: -q errors only, default warnings, -v debug for
our packages, -vv debug for everything (the Docker SDK and urllib3 included).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

PACKAGES = ("runner", "sandbox")
RUN_LOG = "runner.log"


class _Stderr(logging.StreamHandler):
    """stderr as it is when the record is written (tests and the CLI swap sys.stderr)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


class RunLogHandler(logging.Handler):
    """Appends records that carry `run_dir` to `<run_dir>/runner.log`."""

    def emit(self, record: logging.LogRecord) -> None:
        run_dir = getattr(record, "run_dir", None)
        if not run_dir:
            return
        try:
            path = Path(run_dir)
            if not path.is_dir():
                return  # never create a run folder from a log line
            with open(path / RUN_LOG, "a", encoding="utf-8") as fh:
                fh.write(self.format(record) + "\n")
        except OSError:
            self.handleError(record)


class _Line(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = f"{record.levelname.lower()}: {record.name}: {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def configure(verbose: int = 0, quiet: bool = False) -> None:
    """(Re)configure our loggers for one command; safe to call again in the same process."""
    stderr_level = logging.ERROR if quiet and not verbose else logging.DEBUG if verbose else logging.WARNING
    to_stderr = _Stderr()
    to_stderr.setLevel(stderr_level)
    to_stderr.setFormatter(_Line())
    to_run = RunLogHandler(level=logging.DEBUG if verbose else logging.INFO)
    to_run.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in PACKAGES:
        logger = logging.getLogger(name)
        for handler in [h for h in logger.handlers if getattr(h, "_codex", False)]:
            logger.removeHandler(handler)
        for handler in (to_stderr, to_run):
            handler._codex = True  # type: ignore[attr-defined]
            logger.addHandler(handler)
        logger.setLevel(logging.DEBUG if verbose else logging.INFO)
        logger.propagate = False
    root = logging.getLogger()
    ours = [h for h in root.handlers if getattr(h, "_codex", False)]
    for handler in ours:
        root.removeHandler(handler)
    if ours:
        root.setLevel(logging.WARNING)  # what -vv changed before, in this process
    if verbose >= 2:
        everything = _Stderr()
        everything.setFormatter(_Line())
        everything._codex = True  # type: ignore[attr-defined]
        root.addHandler(everything)
        root.setLevel(logging.DEBUG)
