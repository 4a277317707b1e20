"""A live status line on stderr (spinner, current step, elapsed time) while a command waits.

Shown only on a terminal, and only once a wait has lasted about two seconds; never under --json,
--quiet, or when stderr is a pipe or a file, where the step lines are printed as they were.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

DELAY_S = 2.0


class _Line:
    """The renderable the live display redraws: empty for the first DELAY_S, then spinner · step · elapsed."""

    def __init__(self, step: str):
        from rich.spinner import Spinner

        self.step = step
        self.step_started = self.started = time.monotonic()
        self.spinner = Spinner("dots")

    def set(self, step: str) -> None:
        self.step = step
        self.step_started = time.monotonic()

    def __rich_console__(self, console, options):
        from rich.text import Text

        now = time.monotonic()
        if now - self.started < DELAY_S:
            return
        step = " ".join(self.step.split())
        width = max(20, options.max_width - 20)
        if len(step) > width:
            step = step[: width - 1] + "…"
        self.spinner.update(text=Text(f"{step} · {_clock(now - self.started)}", style="dim"))
        yield self.spinner


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


class Activity:
    """What a command reports while it works: `note` prints a line (above the live status) and makes it the step."""

    def __init__(self, console, live=None, line: _Line | None = None, print_notes: bool = True):
        self.console, self._live, self._line, self._print = console, live, line, print_notes

    @property
    def live(self) -> bool:
        return self._live is not None

    def note(self, message: str) -> None:
        if self._print:
            self.console.print(message, markup=False, highlight=False)
        self.step(message)

    def step(self, text: str) -> None:
        """Change the step shown, without printing a line."""
        if self._line is not None:
            self._line.set(text)

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Take the status line away while something else (stdout) prints, then bring it back."""
        if self._live is None:
            yield
            return
        self._live.stop()
        try:
            yield
        finally:
            self._live.start()


def enabled_for(console, *, json: bool = False, quiet: bool = False) -> bool:
    """A live status is drawn only for a human at a terminal."""
    return not json and not quiet and console.is_terminal and not console.is_dumb_terminal


@contextmanager
def activity(console, first_step: str, *, enabled: bool, print_notes: bool = True) -> Iterator[Activity]:
    """A live status on `console` (stderr) while the block runs, when `enabled`; else plain notes."""
    if not enabled:
        yield Activity(console, print_notes=print_notes)
        return
    from rich.live import Live

    line = _Line(first_step)
    with Live(line, console=console, refresh_per_second=4, transient=True, redirect_stdout=False,
              redirect_stderr=True) as live:
        yield Activity(console, live, line, print_notes=print_notes)


@contextmanager
def for_app(a, first_step: str) -> Iterator[Activity]:
    """`activity` on the app's stderr console, enabled by its flags (--json, --quiet) and the terminal."""
    console = a.err_console
    with activity(console, first_step, enabled=enabled_for(console, json=a.json, quiet=a.quiet),
                  print_notes=not (a.json or a.quiet)) as act:
        yield act

