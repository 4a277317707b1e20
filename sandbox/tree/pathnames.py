"""Path-name checks shared by extraction and the pool: `.git` aliases, special git files, terminal escaping."""

from __future__ import annotations

import re
import unicodedata

# Code points HFS+ ignores when comparing names (the list git's is_hfs_dotgit uses), plus other invisibles.
_IGNORABLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u206a-\u206f\ufeff\u00ad\u034f]")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_CONTROL_ALL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _fold(part: str) -> str:
    """What a case-insensitive, Unicode-normalising, NTFS/HFS+ filesystem would call this name."""
    part = _IGNORABLE.sub("", unicodedata.normalize("NFC", part)).casefold()
    part = part.split(":", 1)[0]  # NTFS alternate data streams: ".git::$INDEX_ALLOCATION"
    return part.rstrip(". ")  # NTFS drops trailing dots and spaces


def _parts(name: str) -> list[str]:
    return name.replace("\\", "/").split("/")  # a backslash is a separator on Windows


def _cannot_be(name: str, *stems: str) -> bool:
    """Fast path: a plain ASCII name holding none of the stems cannot alias the special name."""
    if not name.isascii():
        return False
    low = name.lower()
    return not any(stem in low for stem in stems)


def is_dotgit(name: str) -> bool:
    """True if the path component is `.git` or would be on some filesystem (case, dots, ignorables, 8.3)."""
    if _cannot_be(name, "git"):
        return False
    for part in _parts(name):
        folded = _fold(part)
        if folded == ".git" or re.fullmatch(r"git~\d+", folded):
            return True
    return False


def is_gitattributes(name: str) -> bool:
    """True if the component is (an alias of) `.gitattributes`."""
    if _cannot_be(name, "gitatt", "gi7d29"):
        return False
    return any(_fold(p) == ".gitattributes" or re.fullmatch(r"(gitatt|gi7d29)~\d+", _fold(p))
               for p in _parts(name))


def is_gitmodules(name: str) -> bool:
    """True if the component is (an alias of) `.gitmodules`."""
    if _cannot_be(name, "gitmod", "gi7eba"):
        return False
    return any(_fold(p) == ".gitmodules" or re.fullmatch(r"(gitmod|gi7eba)~\d+", _fold(p))
               for p in _parts(name))


def has_control(text: str) -> bool:
    """True if the text holds control or bidi-override characters (newlines and tabs included)."""
    return bool(_CONTROL_ALL.search(text))


def escape_for_terminal(text: str, *, keep_newlines: bool = True) -> str:
    """Make text safe to print: control, escape and bidi-override characters become visible escapes."""
    pattern = _CONTROL if keep_newlines else _CONTROL_ALL

    def repl(m: re.Match[str]) -> str:
        cp = ord(m.group())
        return f"\\x{cp:02x}" if cp < 0x100 else f"\\u{cp:04x}"

    return pattern.sub(repl, text)
