"""Secret scanning: detect-secrets' plugins plus configured regexes; only added lines can block.

A secret on an unchanged line, or one that was already in the old blob (a moved line), was not
put there by this change: it is reported as pre-existing and never blocks. Inline allow-list
pragmas (`pragma: allowlist secret`) are NOT honoured: the author of the change could add them.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from runner.policy.blobs import StagedFile
from runner.policy.cache import ResultCache
from runner.config.policy import SecretsPolicy
from runner.policy.models import Finding

# Heuristic filters kept (they drop ids, templates and references); the allow-list pragma is left out.
DS_FILTERS = [
    "detect_secrets.filters.heuristic.is_sequential_string",
    "detect_secrets.filters.heuristic.is_potential_uuid",
    "detect_secrets.filters.heuristic.is_likely_id_string",
    "detect_secrets.filters.heuristic.is_templated_secret",
    "detect_secrets.filters.heuristic.is_prefixed_with_dollar_sign",
    "detect_secrets.filters.heuristic.is_indirect_reference",
    "detect_secrets.filters.heuristic.is_lock_file",
    "detect_secrets.filters.heuristic.is_not_alphanumeric_string",
    "detect_secrets.filters.heuristic.is_swagger_file",
]
DS_BUDGET_S = 60.0  # detect-secrets' share of one gate run; past it the rest is `not run`
CACHE_VERSION = "2"  # bump when the meaning of a cached detect-secrets result changes
_DS_LOCK = threading.Lock()  # detect-secrets keeps its settings in module globals
ENTROPY_PLUGINS = {"Base64HighEntropyString", "HexHighEntropyString"}
NOISY_PLUGINS = {"IPPublicDetector"}  # public IPs are not credentials
# `status["secret"] = "pass"`, `PASSWORD_ENV = "APP_DB_PASSWORD"`: a keyword hit whose value is a
# plain lowercase word or an ENV_VAR_NAME is a state or a name, not a credential (the semgrep
# hard-coded-credential rules still see `password = "..."`).
PLAIN_WORD = re.compile(r"[a-z][a-z_.\-]{0,31}|[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _hash(value: str) -> str:
    return hashlib.sha1(value.encode("utf-8", errors="replace")).hexdigest()


def _redact(value: str) -> str:
    value = value.strip()
    return f"{value[:4]}…({len(value)} chars)" if len(value) > 6 else "…"


def ds_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("detect-secrets")
    except PackageNotFoundError:
        return "missing"


def _plugin_classes(policy: SecretsPolicy) -> list[type]:
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

    return [
        cls
        for cls in get_mapping_from_secret_type_to_class().values()
        if cls.__name__ not in NOISY_PLUGINS and (policy.entropy_plugins or cls.__name__ not in ENTROPY_PLUGINS)
    ]


def _prefilter_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.environ.get("HOME", "/tmp"), ".cache")
    return Path(base) / "codex-sandbox" / f"detect-secrets-prefilter-{ds_version()}.json"


def prefilter(policy: SecretsPolicy) -> list[re.Pattern] | None:
    """Regexes of which at least one must match for any enabled plugin to find anything (None: scan all).

    Every enabled plugin but KeywordDetector is regex-based: the union of their regexes, plus
    KeywordDetector's keyword list, is a superset of what they can report. A file that matches
    none of it is skipped without importing detect-secrets (its import costs more than a scan).
    The pattern sources are cached per detect-secrets version.
    """
    if policy.entropy_plugins:
        return None
    path = _prefilter_file()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        data = None
    if not data:
        from detect_secrets.plugins.keyword import DENYLIST

        patterns: list[list] = [["|".join(DENYLIST), re.IGNORECASE]]
        for cls in _plugin_classes(policy):
            if cls.__name__ == "KeywordDetector":
                continue
            denylist = getattr(cls, "denylist", None)
            if not isinstance(denylist, (list, tuple)) or not all(isinstance(p, re.Pattern) for p in denylist):
                return None  # a plugin we cannot summarise: scan everything
            patterns += [[p.pattern, int(p.flags) & ~re.UNICODE] for p in denylist]
        data = {"patterns": patterns}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data))
            os.replace(tmp, path)
        except OSError:
            pass
    return [re.compile(src, flags) for src, flags in data["patterns"]]


def detect_secrets_scan(files: list[StagedFile], policy: SecretsPolicy, cache: ResultCache) -> dict[str, list[dict]]:
    """detect-secrets over the staged files: path -> [{line, type, hash, hint}] (cached per blob)."""
    # everything that shapes a cached answer: scanner version, plugins, filters, placeholders, this code
    settings_key = "|".join([CACHE_VERSION, ds_version(), str(policy.entropy_plugins), ",".join(DS_FILTERS),
                             "\0".join(policy.placeholders), PLAIN_WORD.pattern])  # fmt: skip
    out: dict[str, list[dict]] = {}
    todo: list[tuple[StagedFile, str]] = []
    gate = prefilter(policy)
    for f in files:
        if gate is not None and not any(p.search(f.text) for p in gate):
            out[f.path] = []
            continue
        key = cache.key("ds", f.change.new_blob or "", f.path, settings_key)
        hit = cache.get(key)
        if hit is not None:
            out[f.path] = hit
        else:
            todo.append((f, key))
    if not todo:
        return out
    from detect_secrets.core.scan import scan_file
    from detect_secrets.settings import transient_settings

    plugins = [{"name": cls.__name__} for cls in _plugin_classes(policy)]
    config = {"plugins_used": plugins, "filters_used": [{"path": p} for p in DS_FILTERS]}
    started = time.monotonic()
    with _DS_LOCK, transient_settings(config):
        for done, (f, key) in enumerate(todo):
            if time.monotonic() - started > DS_BUDGET_S:  # in-process: the budget is checked between files
                raise TimeoutError(f"stopped at its {DS_BUDGET_S:g} s budget with {len(todo) - done} file(s) "
                                   f"not scanned ({', '.join(g.path for g, _ in todo[done:done + 3])}...)")
            target, origin = _windowed(f)
            found, seen = [], set()
            for s in scan_file(str(target)):
                line = origin[s.line_number - 1] if origin and s.line_number <= len(origin) else s.line_number
                if (line, s.type, s.secret_hash) in seen:
                    continue  # the same secret in two overlapping windows
                seen.add((line, s.type, s.secret_hash))
                found.append({
                    "line": line,
                    "type": s.type,
                    "hash": s.secret_hash,
                    "hint": _redact(s.secret_value or ""),
                    "placeholder": _is_placeholder(s.secret_value or "", policy.placeholders)
                    or (s.type == "Secret Keyword" and bool(PLAIN_WORD.fullmatch(s.secret_value or ""))),
                })
            cache.put(key, found)
            out[f.path] = found
    return out


# detect-secrets' line plugins cost more than linear time in a line's length (a 256 KB one-line file
# took over a minute): long lines are scanned as overlapping windows instead, each on a line of its own.
# The configured patterns still see every line whole.
LONG_LINE = 4096
WINDOW_OVERLAP = 512


def _windowed(f: StagedFile) -> tuple[Path, list[int] | None]:
    """The file detect-secrets should scan, and each of its lines' line number in the original (None: same)."""
    lines = f.text.split("\n")
    if all(len(line) <= LONG_LINE for line in lines):
        return f.staged_path, None
    out: list[str] = []
    origin: list[int] = []
    step = LONG_LINE - WINDOW_OVERLAP
    for number, line in enumerate(lines, 1):
        starts = range(0, max(len(line) - WINDOW_OVERLAP, 1), step) if len(line) > LONG_LINE else [0]
        for start in starts:
            out.append(line[start:start + LONG_LINE])
            origin.append(number)
    target = f.staged_path.with_name(f".windows-{f.staged_path.name}")  # same suffix: same file-type handling
    target.write_text("\n".join(out), encoding="utf-8")
    return target, origin


def _is_placeholder(value: str, placeholders: Iterable[str]) -> bool:
    low = value.lower()
    return any(p.lower() in low for p in placeholders)


# the non-ASCII letters that re's IGNORECASE matches to an ASCII one
_FOLD = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"})


def _fold(text: str) -> str:
    return text.translate(_FOLD).lower()


def _required(items) -> tuple[str, ...] | None:
    """Literals (folded, 3+ ASCII chars) of which every match of this parsed sequence holds one, or None."""
    best: tuple[str, ...] | None = None

    def consider(found: tuple[str, ...] | None) -> None:
        nonlocal best
        shortest = min(map(len, found)) if found else 0
        if shortest >= 3 and (best is None or shortest > min(map(len, best))):
            best = found

    run: list[str] = []
    for op, av in items:
        name = op.name
        if name == "LITERAL" and av < 128:
            run.append(chr(av))
            continue
        consider((_fold("".join(run)),))
        run = []
        if name == "SUBPATTERN":
            consider(_required(av[-1]))
        elif name == "ATOMIC_GROUP":
            consider(_required(av))
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT") and av[0] >= 1:
            consider(_required(av[2]))
        elif name == "BRANCH":
            branches = [_required(b) for b in av[1]]
            if all(branches):
                consider(tuple(lit for b in branches if b for lit in b))
    consider((_fold("".join(run)),))
    return best


def keywords(regex: str) -> tuple[str, ...] | None:
    """Folded literals of which any match of `regex` contains one (None: no such literal, scan every line).

    Every line a pattern can match holds one of its keywords, so a file whose folded text holds
    none of them cannot match: that pattern is skipped for the file (a substring test is far
    cheaper than a regex search per line).
    """
    try:
        from re import _parser

        return _required(_parser.parse(regex))
    except (ImportError, re.error, AttributeError, IndexError, TypeError, ValueError):
        return None  # an interpreter whose private parser differs: no prefilter, same results


@functools.lru_cache(maxsize=16)
def _compile(patterns: tuple[tuple[str, str, str], ...]) -> list[tuple[str, str, re.Pattern, tuple | None]]:
    """(id, description, compiled regex, keywords) of each configured pattern, once per pattern list."""
    return [(pid, description, re.compile(regex), keywords(regex)) for pid, regex, description in patterns]


def pattern_scan(f: StagedFile, policy: SecretsPolicy) -> list[dict]:
    """The configured regexes over every line of one file; a group named `secret` is the value."""
    text = f.text
    folded = _fold(text)
    every = _compile(tuple((p.id, p.regex, p.description) for p in policy.patterns))
    compiled = [
        (pid, desc, rx) for pid, desc, rx, keys in every if not keys or any(k in folded for k in keys)
    ]
    found: list[dict] = []
    if not compiled:
        return found
    for number, line in enumerate(text.splitlines(), start=1):
        for pid, desc, rx in compiled:
            m = rx.search(line)
            if m:
                value = m.group("secret") if "secret" in rx.groupindex and m.group("secret") else m.group(0)
                found.append(
                    {
                        "line": number,
                        "type": desc or pid,
                        "rule": f"secret.{pid}",
                        "hash": _hash(value),
                        "hint": _redact(value),
                        "raw": value,
                        "placeholder": _is_placeholder(value, policy.placeholders),
                    }
                )
    return found


def excluded(path: str, globs: list[str]) -> bool:
    return any(fnmatch.fnmatch(path, g) for g in globs)


def secret_findings(
    files: list[StagedFile], policy: SecretsPolicy, ds_results: dict[str, list[dict]] | None
) -> list[Finding]:
    """Turn raw hits into findings: blocking on added lines, pre-existing elsewhere, one per line."""
    findings: list[Finding] = []
    for f in files:
        if excluded(f.path, policy.exclude_paths):
            continue
        hits = [dict(h, rule=f"secret.{_slug(h['type'])}") for h in (ds_results or {}).get(f.path, [])]
        hits += pattern_scan(f, policy)
        old_text = f.old.decode("utf-8", errors="replace") if f.old else ""
        seen: set[int] = set()
        for hit in sorted(hits, key=lambda h: h["line"]):
            if hit.get("placeholder") or hit["line"] in seen:
                continue
            seen.add(hit["line"])
            added = hit["line"] in f.added_lines
            moved = added and bool(old_text) and _was_in_old(hit, old_text, f)
            pre = not added or moved
            findings.append(
                Finding(
                    gate="security",
                    check="security.secrets",
                    rule=hit["rule"],
                    file=f.path,
                    line=hit["line"],
                    severity="error" if not pre else "warning",
                    message=f"{hit['type']} {hit['hint']}" + (" (already in the file before this change)" if pre else ""),
                    blocking=policy.blocking and not pre,
                    pre_existing=pre,
                )
            )
    return findings


def _was_in_old(hit: dict, old_text: str, f: StagedFile) -> bool:
    """A secret on an added line that the old blob already held (the line moved or was edited)."""
    if "raw" in hit:
        return hit["raw"] in old_text
    # detect-secrets gives the value's sha1: compare with the old file's candidate tokens on that line
    lines = f.text.splitlines()
    line = lines[hit["line"] - 1] if 0 < hit["line"] <= len(lines) else ""
    for token in re.findall(r"[^\s'\"=:,;`()<>\[\]{}]{8,}", line):
        if _hash(token) == hit["hash"] and token in old_text:
            return True
    return False
