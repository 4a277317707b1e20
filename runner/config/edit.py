"""Set one key in a YAML config file's text, keeping its comments, key order, quoting and indentation.

ruamel.yaml does the round trip (imported here only, so only `config set` pays for it). The file is read
back with PyYAML, as every other command reads it, and the value must come back as it was set.
"""

from __future__ import annotations

import io
import re
from typing import Any

from runner.errors import InvalidInput

_KEY_LINE = re.compile(r"^( *)(- )?[^\s#-][^:#]*:(\s|$)")


def set_in_text(text: str, path: list[str], value: Any, where: str) -> str:
    """`text` with `path` (a dotted key's parts) set to `value`; sections on the way are created."""
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.error import YAMLError

    yaml = YAML()  # round-trip mode: comments and layout are kept
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold a long value onto a second line
    mapping, offset = _guess_indent(text)
    yaml.indent(mapping=mapping, sequence=offset + 2, offset=offset)
    try:
        doc = yaml.load(text) if text.strip() else None
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        raise InvalidInput(f"config {where}{line}: not valid YAML; fix it before `config set`") from None
    head = ""
    if doc is None:  # only comments (the file `init` writes): keep them verbatim, add the key after
        doc = CommentedMap()
        head = text if not text or text.endswith("\n") else text + "\n"
    if not isinstance(doc, dict):
        raise InvalidInput(f"config {where}: top level must be a mapping")
    node = doc
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = CommentedMap()
        node = child
    node[path[-1]] = _as_written(value)
    out = io.StringIO()
    yaml.dump(doc, out)
    return head + out.getvalue()


def _as_written(value: Any) -> Any:
    """Strings that a YAML 1.1 reader (PyYAML) would take for something else are quoted (`'yes'`, `'0o7'`)."""
    import yaml as pyyaml
    from ruamel.yaml.scalarstring import SingleQuotedScalarString

    if isinstance(value, str):
        try:
            same = pyyaml.safe_load(value) == value
        except pyyaml.YAMLError:
            same = False
        return value if same and value.strip() == value and value else SingleQuotedScalarString(value)
    if isinstance(value, list):
        return [_as_written(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_written(v) for k, v in value.items()}
    return value


def _guess_indent(text: str) -> tuple[int, int]:
    """(mapping indent, offset of a sequence's dash under its key) as the file already uses them."""
    mapping = offset = None
    parent_indent = 0
    for line in text.splitlines():
        stripped = line.lstrip(" ")
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(line) - len(stripped)
        if stripped.startswith("- ") or stripped == "-":
            if offset is None:
                offset = max(0, indent - parent_indent)
        elif _KEY_LINE.match(line):
            if mapping is None and indent > parent_indent:
                mapping = indent - parent_indent
            parent_indent = indent
        if mapping is not None and offset is not None:
            break
    return (mapping or 2), (2 if offset is None else offset)
