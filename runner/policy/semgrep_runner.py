"""Semgrep on the changed files, offline: semgrep-core directly (~0.2 s), the `semgrep` CLI as fallback.

The Python wrapper costs ~2-3 s of start-up per run; its engine, semgrep-core, takes a rules file
and a targets file and answers in a fraction of that. If semgrep-core is missing or its interface
changed, the wrapper runs instead with every network feature off. `nosemgrep` comments are NOT
honoured: a model could add them; a human uses --override.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from runner.policy.blobs import StagedFile
from sandbox.tools import find_tool, is_disabled, missing_reason

# language names in rules -> semgrep-core analyzer names
LANG_ALIASES = {
    "python": "python", "py": "python", "python3": "python",
    "javascript": "js", "js": "js", "typescript": "ts", "ts": "ts",
    "generic": "generic", "regex": "regex", "yaml": "yaml", "json": "json",
    "bash": "bash", "sh": "bash", "dockerfile": "dockerfile", "docker": "dockerfile",
    "go": "go", "golang": "go", "java": "java", "ruby": "ruby",
}  # fmt: skip
EXTENSIONS = {
    ".py": "python", ".pyi": "python", ".js": "js", ".jsx": "js", ".mjs": "js", ".cjs": "js",
    ".ts": "ts", ".tsx": "ts", ".mts": "ts", ".cts": "ts", ".yml": "yaml", ".yaml": "yaml",
    ".json": "json", ".sh": "bash", ".bash": "bash", ".go": "go", ".java": "java", ".rb": "ruby",
}  # fmt: skip
ANY_FILE = ("generic", "regex")
OFFLINE_ENV = {"SEMGREP_ENABLE_VERSION_CHECK": "0", "SEMGREP_SEND_METRICS": "off"}


def analyzer_for(path: str) -> str | None:
    p = PurePosixPath(path)
    if p.name == "Dockerfile" or p.name.startswith("Dockerfile."):
        return "dockerfile"
    return EXTENSIONS.get(p.suffix.lower())


def semgrep_core_path() -> str | None:
    """The semgrep-core binary shipped in the semgrep wheel (found without importing semgrep), else
    beside the interpreter or on PATH."""
    if is_disabled("semgrep-core"):
        return None
    spec = importlib.util.find_spec("semgrep")
    if spec and spec.origin:
        candidate = Path(spec.origin).parent / "bin" / "semgrep-core"
        if os.access(candidate, os.X_OK):
            return str(candidate)
    return find_tool("semgrep-core")


@dataclass
class RuleSet:
    """Every rule from the configured files, merged; `digest` keys the cache."""

    rules: list[dict]
    digest: str
    sources: list[str] = field(default_factory=list)

    @property
    def analyzers(self) -> set[str]:
        found = set()
        for rule in self.rules:
            for lang in rule.get("languages", []):
                found.add(LANG_ALIASES.get(str(lang).lower(), str(lang).lower()))
        return found

    def severity_of(self, rule_id: str) -> str:
        for rule in self.rules:
            if rule.get("id") == rule_id:
                return str(rule.get("severity", "WARNING")).upper()
        return "WARNING"


def rule_files(paths: list[Path]) -> list[Path]:
    """Rule YAML files under the given files/dirs, skipping semgrep test fixtures."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()))
        elif path.is_file():
            out.append(path)
    return out


def load_rules(paths: list[Path]) -> RuleSet:
    """Parse and merge rule files; a broken file is an InvalidInput naming it."""
    import yaml

    from runner.errors import InvalidInput

    rules: list[dict] = []
    digest = hashlib.sha256()
    files = rule_files(paths)
    for path in files:
        text = path.read_bytes()
        digest.update(path.name.encode() + b"\0" + text)
        try:
            safe_loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C parser is ~5x faster
            data = yaml.load(text, Loader=safe_loader) or {}
        except yaml.YAMLError as exc:
            raise InvalidInput(f"semgrep rule file {path}: not valid YAML ({str(exc).splitlines()[0]})") from None
        if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
            raise InvalidInput(f"semgrep rule file {path}: needs a top-level 'rules:' list")
        rules.extend(data["rules"])
    return RuleSet(rules=rules, digest=digest.hexdigest()[:16], sources=[str(p) for p in files])


@dataclass
class SemgrepResult:
    """Per-file matches plus how the run went."""

    matches: dict[str, list[dict]]
    engine: str  # semgrep-core | semgrep | cache | none
    errors: list[str] = field(default_factory=list)
    unscanned: list[str] = field(default_factory=list)  # files the engine gave up on (timeout, memory)


# Errors after which some rule was not evaluated on the file at all (a syntax error still leaves a
# partial parse that rules match against, and ruff reports it).
_GAVE_UP_LINE = re.compile(r"\[WARNING\]: (Timeout|Out of memory|Stack overflow)[^\n]*? on ([^\n]+)$",
                           re.MULTILINE)
GAVE_UP = {"Timeout", "Out of memory", "Stack overflow", "Fixpoint timeout", "Internal matching error"}


def _targets(files: list[StagedFile], analyzers: set[str]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for f in files:
        lang = analyzer_for(f.path)
        if lang and lang in analyzers:
            pairs.append((f.path, lang))
        for generic in ANY_FILE:
            if generic in analyzers:
                pairs.append((f.path, generic))
    return pairs


def scannable(files: list[StagedFile], ruleset: RuleSet) -> list[StagedFile]:
    """The files some rule of `ruleset` applies to (by language, or any file for generic rules)."""
    analyzers = ruleset.analyzers
    return [f for f in files if _targets([f], analyzers)]


def _tail(text: str) -> str:
    return " ".join((text or "").strip().splitlines()[-3:])[:300] or "no output"


def _parse_core_output(stdout: str) -> dict:
    start = stdout.find("{")
    if start < 0:
        raise ValueError("no JSON in semgrep-core output")
    return json.loads(stdout[start:])


def _collect(data: dict, engine: str) -> SemgrepResult:
    matches: dict[str, list[dict]] = {}
    for res in data.get("results", []):
        extra = res.get("extra", {})
        matches.setdefault(res["path"], []).append(
            {
                "rule": res["check_id"].rsplit(".", 1)[-1] if "." in res["check_id"] else res["check_id"],
                "line": res["start"]["line"],
                "end_line": res["end"]["line"],
                "severity": str(extra.get("severity", "WARNING")).upper(),
                "message": " ".join(str(extra.get("message", "")).split()),
            }
        )
    errors = [
        " ".join(f"{e.get('path') or 'rules'}: {e.get('type', '')} {str(e.get('message', ''))[:200]}".split())
        for e in data.get("errors", [])
    ]
    gave_up = sorted({str(e["path"]) for e in data.get("errors", []) if e.get("path") and
                      (e.get("type") if isinstance(e.get("type"), str) else "") in GAVE_UP})  # fmt: skip
    return SemgrepResult(matches=matches, engine=engine, errors=errors, unscanned=gave_up)


# A rule that takes longer than this on one file gives up, and the file is skipped (reported as not
# scanned): a 256 KB single-line file once kept every rule busy for minutes.
PER_FILE_RULE_TIMEOUT_S = 2


def run_semgrep(
    root: Path, files: list[StagedFile], ruleset: RuleSet, *, work: Path, timeout_s: float = 60.0
) -> SemgrepResult:
    """Scan `files` (already written under `root`) with the merged rules; one process for all files.

    `work` is a scratch dir outside `root` for the rules and targets files.
    """
    pairs = _targets(files, ruleset.analyzers)
    if not pairs or not ruleset.rules:
        return SemgrepResult(matches={}, engine="none")
    rules_file = work / "rules.json"
    rules_file.write_text(json.dumps({"rules": ruleset.rules}))
    core = semgrep_core_path()
    core_error = ""
    if core:
        targets_file = work / "targets.json"
        targets = [
            ["CodeTarget", {"path": {"fpath": p, "ppath": "/" + p}, "analyzer": lang, "products": ["sast"]}]
            for p, lang in pairs
        ]
        targets_file.write_text(json.dumps(["Targets", targets]))
        cmd = [core, "-json", "-rules", str(rules_file), "-targets", str(targets_file),
               "-timeout", str(PER_FILE_RULE_TIMEOUT_S), "-timeout_threshold", "1", "-max_memory", "0",
               "-fast"]  # fmt: skip
        # any failure falls through to the wrapper, which is slower but validates everything
        try:
            proc = subprocess.run(cmd, cwd=root, check=False, capture_output=True, text=True, timeout=timeout_s,
                                  env={**os.environ, **OFFLINE_ENV})  # fmt: skip
            if proc.returncode == 0:
                result = _collect(_parse_core_output(proc.stdout), "semgrep-core")
                # a file skipped at the time cap is only a warning on stderr, and still listed as scanned
                skipped = {m.group(2).strip() for m in _GAVE_UP_LINE.finditer(proc.stderr or "")}
                result.unscanned = sorted(set(result.unscanned) | (skipped & {p for p, _ in pairs}))
                return result
            core_error = f"semgrep-core failed (exit {proc.returncode}): {_tail(proc.stderr)}"
        except subprocess.TimeoutExpired:  # the wrapper would only spend the same time again
            return SemgrepResult(matches={}, engine="none",
                                 errors=[f"semgrep-core timed out after {timeout_s:g} s (the run's time cap)"])
        except (OSError, ValueError, KeyError) as exc:
            core_error = f"semgrep-core failed: {type(exc).__name__}: {exc}"
    result = _run_wrapper(root, sorted({p for p, _ in pairs}), rules_file, timeout_s)
    if result.engine == "none" and core_error:
        result.errors[:1] = [f"{core_error}; {result.errors[0]}" if result.errors else core_error]
    return result


def _run_wrapper(root: Path, paths: list[str], rules_file: Path, timeout_s: float) -> SemgrepResult:
    exe = find_tool("semgrep")
    if exe is None:
        return SemgrepResult(matches={}, engine="none", errors=[missing_reason("semgrep")])
    cmd = [exe, "scan", "--config", str(rules_file), "--json", "--metrics=off", "--disable-version-check",
           "--no-git-ignore", "--disable-nosem", "--quiet", "--", *paths]  # fmt: skip
    try:
        proc = subprocess.run(cmd, cwd=root, check=False, capture_output=True, text=True, timeout=timeout_s + 30,
                              env={**os.environ, **OFFLINE_ENV})  # fmt: skip
    except subprocess.TimeoutExpired:
        return SemgrepResult(matches={}, engine="none", errors=[f"semgrep timed out after {timeout_s + 30:g} s"])
    except OSError as exc:
        return SemgrepResult(matches={}, engine="none", errors=[f"semgrep could not start: {exc}"])
    # exit 2 with a JSON report still has results: only a missing or unreadable report is a failure
    try:
        data = json.loads(proc.stdout)
        if isinstance(data, dict) and isinstance(data.get("results"), list):
            return _collect(data, "semgrep")
    except (ValueError, KeyError):
        pass
    return SemgrepResult(matches={}, engine="none",
                         errors=[f"semgrep gave no report (exit {proc.returncode}): {_tail(proc.stderr)}"])  # fmt: skip
