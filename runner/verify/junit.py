"""Read JUnit XML (pytest --junitxml and friends) into typed results; coverage.xml into a percentage."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from pydantic import BaseModel

MAX_XML_BYTES = 20 * 1024 * 1024
TRACE_LINES = 25
TRACE_CHARS = 1500


class TestResult(BaseModel):
    """One test case."""

    name: str  # file-ish::Class::test, as pytest prints it
    outcome: str  # passed | failed | error | skipped
    time_s: float = 0.0
    message: str = ""
    traceback: str = ""


def read_untrusted(path: Path, limit: int = MAX_XML_BYTES) -> bytes | None:
    """Read a file the container wrote: a regular file, no symlink, under `limit` bytes; else None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)  # a FIFO must not block us
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            return None
        with os.fdopen(fd, "rb", closefd=False) as fh:
            return fh.read(limit + 1)[:limit]
    finally:
        os.close(fd)


def trim_traceback(text: str) -> str:
    """The last lines of a traceback (where the assertion is), capped."""
    lines = [ln for ln in (text or "").strip().splitlines() if ln.strip()]
    out = "\n".join(lines[-TRACE_LINES:])
    return out[-TRACE_CHARS:]


def _case_name(case) -> str:
    classname = case.get("classname") or ""
    name = case.get("name") or "?"
    if not classname:
        return name
    parts = classname.split(".")
    # pytest: classname "tests.test_calc.TestX" → tests/test_calc.py::TestX::name
    for i in range(len(parts), 0, -1):
        if parts[i - 1].startswith("test") or parts[i - 1].endswith("_test"):
            path = "/".join(parts[:i]) + ".py"
            return "::".join([path, *parts[i:], name])
    return f"{classname}::{name}"


def parse_junit(data: bytes) -> list[TestResult]:
    """Every <testcase> with its outcome; a malformed file is an empty list."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(data)  # expat ≥ 2.4.1 (CPython 3.11 bundles it) refuses entity expansion bombs
    except ET.ParseError:
        return []
    results = []
    for case in root.iter("testcase"):
        outcome, message, trace = "passed", "", ""
        for tag in ("failure", "error", "skipped"):
            node = case.find(tag)
            if node is not None:
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
                message = (node.get("message") or "").strip()[:500]
                trace = trim_traceback(node.text or "") if tag != "skipped" else ""
                break
        try:
            time_s = float(case.get("time") or 0)
        except ValueError:
            time_s = 0.0
        results.append(
            TestResult(
                name=_case_name(case), outcome=outcome, time_s=time_s, message=message, traceback=trace
            )
        )
    return results


def parse_coverage(data: bytes) -> float | None:
    """Line coverage in percent from a Cobertura coverage.xml."""
    import xml.etree.ElementTree as ET

    try:
        rate = ET.fromstring(data).get("line-rate")
        return round(float(rate) * 100, 1) if rate is not None else None
    except (ET.ParseError, ValueError):
        return None
