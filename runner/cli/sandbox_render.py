"""Rendering of sandbox runs for humans: container output and patches reach the terminal escaped."""

from __future__ import annotations

import unicodedata

_KEEP = {"\n", "\t"}


def escape_controls(text: str) -> str:
    """Escape control and format characters (ANSI escapes, bidi overrides) except newline and tab."""
    out = []
    for ch in text:
        if ch in _KEEP or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp"):
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(f"\\u{ord(ch):04x}")
    return "".join(out)


def stream_printer(console):
    """An on_output callback that prints container output, escaped, as it arrives."""

    def emit(text: str) -> None:
        console.file.write(escape_controls(text))
        console.file.flush()

    return emit


def render_outcome(console, outcome, *, patch: bool = False, shown: int = 20) -> None:
    """A diff summary (files, lines, binary) and where the patch is; the escaped patch itself with `patch`."""
    st = outcome.changes.stats()
    res = outcome.result
    status = "ok" if res.ok else res.reason
    console.print(f"run {outcome.run_id}: {status} in {res.duration_s:.2f}s ({outcome.image})", markup=False)
    console.print(
        f"{st['files_added']} added, {st['files_modified']} modified, {st['files_deleted']} deleted; "
        f"+{st['lines_added']} -{st['lines_removed']} lines; {st['binary_files']} binary",
        markup=False,
    )
    files = outcome.changes.files
    for f in files if patch else files[:shown]:
        mark = {"added": "A", "modified": "M", "deleted": "D"}[f.status]
        extra = " (binary)" if f.binary else f" +{f.lines_added} -{f.lines_removed}"
        console.print(f"  {mark} {escape_controls(f.path)}{extra}", markup=False)
    if not patch and len(files) > shown:
        console.print(f"  ... and {len(files) - shown} more file(s)", markup=False)
    if outcome.kept:
        console.print(f"kept branch {outcome.branch}", markup=False)
    if outcome.patch_path and outcome.changes.patch:
        hint = "" if patch else " (--patch prints it)"
        console.print(f"patch: {outcome.patch_path}{hint}", markup=False)
    if patch and outcome.changes.patch:
        console.print("", markup=False)
        console.print(escape_controls(outcome.changes.patch), markup=False, highlight=False, emoji=False)
