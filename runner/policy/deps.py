"""Dependency files in a change: what was added or changed, pinning, and known-bad versions (offline)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from runner.policy.blobs import StagedFile
from runner.config.policy import ADVISORIES_FILE, DependencyPolicy
from runner.policy.models import CheckRun, Finding
from sandbox.tools import find_tool, missing_reason

REQ_LINE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._\-]*)\s*(\[[^\]]*\])?\s*(.*)$")


@dataclass(frozen=True)
class Dep:
    """One declared dependency."""

    ecosystem: str  # pypi | npm
    name: str
    spec: str  # the version part as written ("==1.2.3", "^4.0.0", "")
    file: str
    line: int | None

    @property
    def key(self) -> str:
        return f"{self.ecosystem}:{normalize(self.ecosystem, self.name)}"

    @property
    def pinned_version(self) -> str | None:
        spec = self.spec.split(";")[0].strip()
        if self.ecosystem == "pypi":
            m = re.fullmatch(r"===?\s*([0-9][0-9A-Za-z.\-+!]*)", spec)
        else:
            m = re.fullmatch(r"=?v?([0-9]+\.[0-9]+\.[0-9]+[0-9A-Za-z.\-+]*)", spec)
        return m.group(1) if m else None


def normalize(ecosystem: str, name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower() if ecosystem == "pypi" else name.lower()


def is_dependency_file(path: str) -> bool:
    name = PurePosixPath(path).name
    return (
        name in ("pyproject.toml", "package.json")
        or (name.startswith("requirements") and name.endswith((".txt", ".in")))
        or (PurePosixPath(path).parent.name == "requirements" and name.endswith(".txt"))
    )


def _line_of(text: str, needle: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    return None


class Unparsable(ValueError):
    """A dependency file that is not valid JSON/TOML: what it declares cannot be audited."""


def parse_deps(path: str, text: str) -> list[Dep]:
    """Declared dependencies of one file; Unparsable when the file is not valid JSON/TOML."""
    name = PurePosixPath(path).name
    out: list[Dep] = []
    if name == "package.json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise Unparsable(f"{path}: not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise Unparsable(f"{path}: not a JSON object")
        for section in ("dependencies", "devDependencies", "optionalDependencies", "peerDependencies"):
            for dep, spec in (data.get(section) or {}).items():
                out.append(Dep("npm", dep, str(spec), path, _line_of(text, f'"{dep}"')))
        return out
    if name == "pyproject.toml":
        import tomllib

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise Unparsable(f"{path}: not valid TOML ({exc})") from None
        project = data.get("project") or {}
        reqs = list(project.get("dependencies") or [])
        for extra in (project.get("optional-dependencies") or {}).values():
            reqs.extend(extra)
        for req in reqs:
            dep = _parse_req(req, path, _line_of(text, req))
            if dep:
                out.append(dep)
        return out
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(" #")[0].strip()
        if not line or line.startswith(("#", "-", "git+", "http://", "https://")):
            continue
        dep = _parse_req(line, path, number)
        if dep:
            out.append(dep)
    return out


def _parse_req(req: str, path: str, line: int | None) -> Dep | None:
    m = REQ_LINE.match(req)
    if not m:
        return None
    return Dep("pypi", m.group(1), m.group(3).strip(), path, line)


@dataclass
class DepChanges:
    """What a change does to the declared dependencies."""

    changed: list[Dep] = field(default_factory=list)  # new or re-specified
    added: list[Dep] = field(default_factory=list)  # of which newly added
    unparsable: list[str] = field(default_factory=list)  # changed dependency files that could not be read


def changed_deps(files: list[StagedFile]) -> DepChanges:
    """New or re-specified deps over every changed dependency file."""
    out = DepChanges()
    for f in files:
        if not is_dependency_file(f.path):
            continue
        if f.binary:
            out.unparsable.append(f"{f.path}: binary content")
            continue
        try:
            new = parse_deps(f.path, f.text)
        except Unparsable as exc:
            out.unparsable.append(str(exc))
            continue
        try:  # an old version that did not parse: every dependency counts as new (fail closed)
            old = {d.key: d for d in parse_deps(f.path, f.old.decode("utf-8", "replace"))} if f.old else {}
        except Unparsable:
            old = {}
        for dep in new:
            prev = old.get(dep.key)
            if prev is None:
                out.added.append(dep)
                out.changed.append(dep)
            elif prev.spec != dep.spec:
                out.changed.append(dep)
    return out


def load_advisories(extra: Path | None = None) -> list[dict]:
    """The local advisory list (policies/advisories.yaml plus an optional repo file)."""
    import yaml

    items: list[dict] = []
    for path in [ADVISORIES_FILE, extra]:
        if path and path.is_file():
            items.extend((yaml.safe_load(path.read_text()) or {}).get("advisories") or [])
    return items


def _affected(version: str, ranges: str) -> bool:
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.version import InvalidVersion, Version

    try:  # "||" separates alternative ranges; "," inside one range means AND (PEP 440)
        return any(Version(version) in SpecifierSet(part.strip(), prereleases=True) for part in ranges.split("||"))
    except (InvalidSpecifier, InvalidVersion):
        return False


def dependency_findings(changed: list[Dep], policy: DependencyPolicy, advisories: list[dict]) -> list[Finding]:
    """Pinning and known-bad versions of the deps this change added or re-specified."""
    out: list[Finding] = []
    index: dict[str, list[dict]] = {}
    for adv in advisories:
        index.setdefault(f"{adv.get('ecosystem', 'pypi')}:{normalize(adv.get('ecosystem', 'pypi'), adv['package'])}", []).append(adv)
    for dep in changed:
        version = dep.pinned_version
        if policy.require_pinning and version is None:
            block = policy.blocking and policy.pinning_blocking
            out.append(
                Finding(gate="security", check="security.dependencies", rule="deps.unpinned", file=dep.file,
                        line=dep.line, severity="error" if block else "warning", blocking=block,
                        message=f"{dep.name} is not pinned to an exact version ({dep.spec or 'any version'})")
            )
        for adv in index.get(dep.key, []):
            bad = adv.get("malicious") and version is None or (version and _affected(version, str(adv.get("affected", ""))))
            if bad:
                out.append(
                    Finding(gate="security", check="security.dependencies", rule="deps.known-vulnerable",
                            file=dep.file, line=dep.line, severity="error", blocking=policy.blocking,
                            message=f"{dep.name} {version or dep.spec}: {adv.get('id', 'advisory')} "
                                    f"{adv.get('summary', '')} (affected {adv.get('affected', 'all')})".strip())
                )
    return out


def dependency_check(changes: DepChanges, policy: DependencyPolicy, advisories: list[dict]) -> CheckRun:
    """The offline audit; a dependency file it cannot read is `not run`, never a silent pass."""
    if not policy.enabled:
        return CheckRun.skipped()
    found = dependency_findings(changes.changed, policy, advisories)
    if changes.unparsable:
        why = "; ".join(changes.unparsable) + ": what it declares was not audited"
        return CheckRun.not_run("security", "security.dependencies", "deps.unparsable", why, policy.blocking, found)
    if not changes.changed:
        return CheckRun.idle("no dependency added or changed")
    return CheckRun(found)


ONLINE = "security.dependencies.online"


def online_audit(changed: list[Dep], policy: DependencyPolicy) -> CheckRun:
    """pip-audit over the pinned Python deps; anything short of its real answer is 'not run'."""
    if not policy.online_audit:
        return CheckRun.idle("disabled (security.dependencies.online_audit is off)")
    import subprocess

    deps = {normalize("pypi", d.name): d for d in changed if d.ecosystem == "pypi" and d.pinned_version}
    if not deps:
        return CheckRun.idle("no pinned Python dependency to audit")

    def failed(why: str) -> CheckRun:
        return CheckRun.not_run("security", ONLINE, "deps.audit-not-run", why, policy.blocking)

    exe = find_tool("pip-audit")
    if exe is None:
        return failed(missing_reason("pip-audit"))
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".txt") as req:
        req.write("".join(f"{d.name}=={d.pinned_version}\n" for d in deps.values()))
        req.flush()
        try:
            proc = subprocess.run([exe, "-r", req.name, "--no-deps", "--progress-spinner", "off", "-f", "json"],
                                  check=False, capture_output=True, text=True, timeout=30)
        except subprocess.TimeoutExpired:
            return failed("timed out (network unreachable?)")
    try:
        data = json.loads(proc.stdout) if proc.returncode in (0, 1) else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return failed(f"pip-audit failed (exit {proc.returncode}): {proc.stderr.strip().splitlines()[-1:] or 'no output'}")
    out = []
    for item in data.get("dependencies", []):
        dep = deps.get(normalize("pypi", str(item.get("name", ""))))
        for vuln in item.get("vulns") or []:
            out.append(Finding(gate="security", check=ONLINE, rule="deps.known-vulnerable",
                               file=dep.file if dep else None, line=dep.line if dep else None,
                               severity="error" if policy.blocking else "warning", blocking=policy.blocking,
                               message=f"{item.get('name')} {item.get('version')}: {vuln.get('id', 'advisory')} "
                                       f"(fixed in {', '.join(vuln.get('fix_versions') or []) or 'no release'})"))  # fmt: skip
    return CheckRun(out, notes=[f"online audit: {len(out)} vulnerabilit{'y' if len(out) == 1 else 'ies'}"])
