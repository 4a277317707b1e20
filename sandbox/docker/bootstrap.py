"""Bootstrap a Debian base image without a registry: debootstrap a rootfs, then `docker import` it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from sandbox.errors import ImageError

SUITE = "bookworm"
VARIANT = "minbase"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# Bump when the recipe below changes: it is part of the base image's content hash.
RECIPE_VERSION = "2"
IMAGE_CHANGES = [
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    'CMD ["bash"]',
]


def host_mirrors(apt_dir: Path = Path("/etc/apt")) -> tuple[str, str | None]:
    """The host's Debian mirror and security mirror, read from its apt sources (defaults if none)."""
    files = [
        apt_dir / "sources.list",
        *sorted((apt_dir / "sources.list.d").glob("*.list")),
        *sorted((apt_dir / "sources.list.d").glob("*.sources")),
    ]
    entries: list[tuple[str, str]] = []  # (uri, suites)
    for path in files:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        if path.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                fields = {
                    m.group(1).lower(): m.group(2).strip()
                    for m in re.finditer(r"^([A-Za-z-]+):\s*(.*)$", stanza, re.MULTILINE)
                }
                if (
                    fields.get("enabled", "yes").lower() == "no"
                    or "deb" not in fields.get("types", "").split()
                ):
                    continue
                for uri in fields.get("uris", "").split():
                    entries.append((uri, fields.get("suites", "")))
        else:
            for line in text.splitlines():
                m = re.match(r"^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
                if m:
                    entries.append((m.group(1), m.group(2)))
    mirror = security = None
    for uri, suites in entries:
        names = suites.split()
        if mirror is None and SUITE in names:
            mirror = uri.rstrip("/")
        if security is None and f"{SUITE}-security" in names:
            security = uri.rstrip("/")
    return mirror or DEFAULT_MIRROR, security


def debootstrap_path() -> str:
    """Path of debootstrap, installing it with apt-get when missing."""
    found = shutil.which("debootstrap") or (
        "/usr/sbin/debootstrap" if os.path.exists("/usr/sbin/debootstrap") else None
    )
    if found:
        return found
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "debootstrap"]):
        proc = subprocess.run(sudo + cmd, capture_output=True, text=True, env=env, check=False)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
            raise ImageError(
                f"cannot install debootstrap ({' '.join(cmd)}): {tail[0]}; run images/host-deps.sh"
            )
    return shutil.which("debootstrap") or "/usr/sbin/debootstrap"


def _sources_list(mirror: str, security: str | None) -> str:
    lines = [f"deb {mirror} {SUITE} main", f"deb {mirror} {SUITE}-updates main"]
    if security:
        lines.append(f"deb {security} {SUITE}-security main")
    return "\n".join(lines) + "\n"


# Make the rootfs image-shaped (sources, no caches or host identity, slim like debian:*-slim).
# A shell script so that a non-root host can run it, like debootstrap, through `sudo -n`.
TIDY_SH = r"""set -eu
root="$1"
printf '%s' "$2" > "$root/etc/apt/sources.list"
find "$root/var/cache/apt/archives" "$root/var/lib/apt/lists" -mindepth 1 -maxdepth 1 \
  ! -name partial ! -name lock -exec rm -rf {} +
find "$root/var/log" -type f -delete
rm -f "$root/etc/hostname" "$root/etc/resolv.conf"
rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/*
cat > "$root/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/lintian/*
EOF
cat > "$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb || true"; };
Acquire::Languages "none";
APT::Install-Recommends "false";
EOF
"""


def _priv() -> list[str]:
    """debootstrap, the tidy-up and packing need root: `sudo -n` when we are not root."""
    return [] if os.geteuid() == 0 else ["sudo", "-n"]


def _run_logged(cmd: list[str], log, on_line: Callable[[str], None] | None) -> int:
    log.write("$ " + " ".join(cmd[:4]) + (" ..." if len(cmd) > 4 else "") + "\n")
    log.flush()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        log.write(line)
        if on_line:
            on_line(line.rstrip())
    return proc.wait()


def bootstrap_base(
    repository: str,
    tag: str,
    *,
    log_path: Path,
    on_line: Callable[[str], None] | None = None,
    labels: dict[str, str] | None = None,
) -> str:
    """Debootstrap bookworm into a temp dir and import it as repository:tag; returns the image id."""
    from sandbox.docker.client import get_client

    client = get_client()
    exe = debootstrap_path()
    mirror, security = host_mirrors()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="codex-sandbox-rootfs-"))
    rootfs, tarball = work / "rootfs", work / "rootfs.tar"
    steps = [
        ("debootstrap", [*_priv(), exe, f"--variant={VARIANT}", SUITE, str(rootfs), mirror]),
        ("tidy", [*_priv(), "sh", "-c", TIDY_SH, "tidy", str(rootfs), _sources_list(mirror, security)]),
        # --numeric-owner: ownership must not depend on the host's user names.
        ("pack", [*_priv(), "tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(tarball), "."]),
    ]
    try:
        with open(log_path, "w") as log:
            for name, cmd in steps:
                rc = _run_logged(cmd, log, on_line)
                if rc != 0:
                    log.flush()
                    raise ImageError(
                        f"base image {name} failed (exit {rc}): {_last_line(log_path)}; full log: {log_path}"
                    )
        if on_line:
            on_line("importing rootfs")
        changes = list(IMAGE_CHANGES) + [f'LABEL {k}="{v}"' for k, v in (labels or {}).items()]
        with open(tarball, "rb") as fh:
            client.api.import_image_from_data(fh, repository=repository, tag=tag, changes=changes)
        return client.images.get(f"{repository}:{tag}").id
    finally:
        subprocess.run([*_priv(), "rm", "-rf", str(work)], capture_output=True, check=False)


def _last_line(path: Path) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "?"
    return lines[-1][-300:] if lines else "?"
