"""The compliance gate: licences of newly added dependencies against an allow list, offline."""

from __future__ import annotations

import re
from pathlib import Path

from runner.config.policy import LICENSES_FILE, LicensePolicy
from runner.policy.deps import Dep, normalize
from runner.policy.models import CheckRun, Finding

# Common free-text licence names (package metadata, classifiers) -> SPDX ids.
ALIASES = {
    "mit license": "MIT", "mit": "MIT", "the mit license": "MIT",
    "apache software license": "Apache-2.0", "apache 2.0": "Apache-2.0", "apache-2.0": "Apache-2.0",
    "apache license 2.0": "Apache-2.0", "apache license, version 2.0": "Apache-2.0", "apache 2": "Apache-2.0",
    "bsd license": "BSD-3-Clause", "bsd": "BSD-3-Clause", "new bsd license": "BSD-3-Clause",
    "bsd-3-clause": "BSD-3-Clause", "bsd-2-clause": "BSD-2-Clause", "isc license (iscl)": "ISC", "isc": "ISC",
    "python software foundation license": "PSF-2.0", "mozilla public license 2.0 (mpl 2.0)": "MPL-2.0",
    "gnu general public license v3 (gplv3)": "GPL-3.0-only", "gnu general public license v2 (gplv2)": "GPL-2.0-only",
    "gnu lesser general public license v3 (lgplv3)": "LGPL-3.0-only", "gnu affero general public license v3": "AGPL-3.0-only",
}  # fmt: skip


def canonical(text: str) -> str:
    text = text.strip()
    return ALIASES.get(text.lower(), text)


def _installed_license(name: str) -> str | None:
    """Licence from the metadata of a Python distribution installed on this host (offline)."""
    from importlib.metadata import PackageNotFoundError, metadata

    try:
        meta = metadata(name)
    except PackageNotFoundError:
        return None
    expr = meta.get("License-Expression")
    if expr:
        return expr.strip()
    for classifier in meta.get_all("Classifier") or []:
        if classifier.startswith("License :: OSI Approved :: "):
            return canonical(classifier.rsplit(" :: ", 1)[1])
    lic = (meta.get("License") or "").strip()
    return canonical(lic) if lic and len(lic) < 60 and "\n" not in lic else None


def load_table(extra: Path | None = None) -> dict[str, str]:
    """ecosystem:name -> licence from policies/licenses.yaml and an optional repo table."""
    import yaml

    table: dict[str, str] = {}
    for path in [LICENSES_FILE, extra]:
        if path and path.is_file():
            data = yaml.safe_load(path.read_text()) or {}
            for eco, entries in data.items():
                for name, lic in (entries or {}).items():
                    table[f"{eco}:{normalize(eco, name)}"] = str(lic)
    return table


def allowed(expr: str, allow: set[str]) -> bool:
    """SPDX-ish: `A OR B` needs one allowed alternative, `A AND B` needs all."""
    alternatives = re.split(r"\s+OR\s+|\s*\|\|\s*", expr.strip("() "))
    for alt in alternatives:
        parts = [canonical(p.strip("() ")) for p in re.split(r"\s+AND\s+", alt)]
        if all(p in allow for p in parts):
            return True
    return False


def license_findings(added: list[Dep], policy: LicensePolicy, table: dict[str, str]) -> tuple[list[Finding], int]:
    """Findings for newly added deps, and how many licences could not be determined offline."""
    allow = {canonical(a) for a in policy.allowed}
    out: list[Finding] = []
    unknown = 0
    for dep in added:
        lic = table.get(dep.key) or (_installed_license(dep.name) if dep.ecosystem == "pypi" else None)
        if lic is None:
            unknown += 1
            if policy.unknown != "ignore":
                block = policy.unknown == "block"
                out.append(Finding(gate="compliance", check="compliance.licenses", rule="license.unknown",
                                   file=dep.file, line=dep.line, severity="error" if block else "warning",
                                   blocking=block, message=f"{dep.name}: licence not known offline; not checked"))  # fmt: skip
        elif not allowed(lic, allow):
            out.append(Finding(gate="compliance", check="compliance.licenses", rule="license.not-allowed",
                               file=dep.file, line=dep.line, severity="error" if policy.blocking else "warning",
                               blocking=policy.blocking, message=f"{dep.name}: licence {lic} is not in the allow list"))  # fmt: skip
    return out, unknown


def license_check(added: list[Dep], policy: LicensePolicy, table: dict[str, str]) -> CheckRun:
    """The compliance check; when no new licence could be looked up offline, it did not run."""
    if not policy.enabled:
        return CheckRun.skipped()
    if not added:
        return CheckRun.idle("no dependency added")
    found, unknown = license_findings(added, policy, table)
    run = CheckRun(found)
    if unknown == len(added) and run.result != "block":
        # nothing could be checked offline: say so rather than "warn" or "pass"
        run.status, run.failed = "not run", True
        run.why = f"the licence of none of the {len(added)} new dependencies is known offline"
    return run
