"""Is a process alive, and is it still the process that started at a given time (pid reuse)?"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from functools import lru_cache


@lru_cache(maxsize=1)
def _boot_time() -> float | None:
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("btime "):
                    return float(line.split()[1])
    except OSError:
        pass
    return None


def process_start_time(pid: int) -> float | None:
    """Epoch seconds the process started (Linux /proc), or None if unknown."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            stat = handle.read()
    except OSError:
        return None
    boot = _boot_time()
    if boot is None:
        return None
    # Field 22 (starttime, clock ticks since boot) follows the ")" that ends the command name.
    fields = stat.rsplit(")", 1)[-1].split()
    try:
        ticks = int(fields[19])
    except (IndexError, ValueError):
        return None
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def pid_alive(pid: int | None, started_at: str | None = None) -> bool:
    """True if `pid` runs and (when `started_at` is given) started no later than that moment."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if _is_zombie(pid):
        return False
    if started_at:
        began = process_start_time(pid)
        if began is not None:
            when = datetime.fromisoformat(started_at)
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            # A process that started after the run did is a reused pid (2 s slack for clock ticks).
            if began > when.timestamp() + 2:
                return False
    return True


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return handle.read().rsplit(")", 1)[-1].split()[0] == "Z"
    except (OSError, IndexError):
        return False
