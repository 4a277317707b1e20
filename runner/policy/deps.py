"""Dependency files in a change: what was added or changed, pinning, and known-bad versions (offline)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from runner.policy.blobs import StagedFile
from runner.policy.config import ADVISORIES_FILE, DependencyPolicy
from runner.policy.models import Finding

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


def parse_deps(path: str, text: str) -> list[Dep]:
    """Declared dependencies of one file; an unparsable file yields nothing (the linters say why)."""
    name = PurePosixPath(path).name
    out: list[Dep] = []
    if name == "package.json":
        try:
            data = json.loads(text)
        except ValueError:
            return []
        for section in ("dependencies", "devDependencies", "optionalDependencies", "peerDependencies"):
            for dep, spec in (data.get(section) or {}).items():
                out.append(Dep("npm", dep, str(spec), path, _line_of(text, f'"{dep}"')))
        return out
    if name == "pyproject.toml":
        import tomllib

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            return []
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


def changed_deps(files: list[StagedFile]) -> tuple[list[Dep], list[Dep]]:
    """(new or re-specified deps, of which newly added) over every changed dependency file."""
    changed: list[Dep] = []
    added: list[Dep] = []
    for f in files:
        if not is_dependency_file(f.path) or f.binary:
            continue
        old = {d.key: d for d in parse_deps(f.path, f.old.decode("utf-8", "replace"))} if f.old else {}
        for dep in parse_deps(f.path, f.text):
            prev = old.get(dep.key)
            if prev is None:
                added.append(dep)
                changed.append(dep)
            elif prev.spec != dep.spec:
                changed.append(dep)
    return changed, added


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


def online_audit(changed: list[Dep], policy: DependencyPolicy) -> tuple[str, str]:
    """(status, note) of the network audit; anything short of a real answer is 'not run'."""
    if not policy.online_audit:
        return "not run", "online dependency audit disabled (security.dependencies.online_audit)"
    import shutil
    import subprocess

    pinned = [f"{d.name}=={d.pinned_version}" for d in changed if d.ecosystem == "pypi" and d.pinned_version]
    if not pinned:
        return "not run", "online audit: no pinned Python dependencies to audit"
    exe = shutil.which("pip-audit")
    if exe is None:
        return "not run", "online audit: pip-audit is not installed"
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".txt") as req:
        req.write("\n".join(pinned) + "\n")
        req.flush()
        try:
            proc = subprocess.run([exe, "-r", req.name, "--no-deps", "--progress-spinner", "off", "-f", "json"],
                                  check=False, capture_output=True, text=True, timeout=30)
        except subprocess.TimeoutExpired:
            return "not run", "online audit: timed out (network unreachable?)"
    if proc.returncode not in (0, 1) or not proc.stdout.strip().startswith("{"):
        return "not run", f"online audit failed: {proc.stderr.strip().splitlines()[-1:] or 'no output'}"
    vulns = [d for d in json.loads(proc.stdout).get("dependencies", []) if d.get("vulns")]
    return ("block" if vulns else "pass"), f"online audit: {len(vulns)} vulnerable"
