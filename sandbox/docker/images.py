"""Build the sandbox images without a registry; tags carry a content hash of their build inputs."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sandbox.docker import bootstrap
from sandbox.errors import ImageError
from sandbox.docker.labels import PREFIX

IMAGE_KINDS = ("base", "codex", "python")
DEFAULT_BASE = "debian:bookworm-slim"
REPOSITORY = "codex-sandbox"
IMAGES_DIR = Path(__file__).resolve().parents[2] / "images"
LABEL_KIND = f"{PREFIX}.image.kind"
LABEL_HASH = f"{PREFIX}.image.hash"
LABEL_BASE_ID = f"{PREFIX}.image.base-id"
LABEL_STAGE = f"{PREFIX}.image.stage"  # set on throwaway build stages (see images/codex/Dockerfile)
PULL_TIMEOUT_S = 30  # read timeout of a pull: a stalled registry fails instead of hanging
BUILD_TIMEOUT_S = 1800  # read timeout of a build: silent steps (layer commits) may take minutes
WHEEL_PYTHON = "3.11"  # Debian bookworm's python3

# progress(kind, event, message); events: "cached", "start", "step", "done".
Progress = Callable[[str, str, str], None]


@dataclass
class ImageInfo:
    """One kind's expected tag and, if built, what the engine knows of it."""

    kind: str
    tag: str
    built: bool
    image_id: str | None = None
    size: int | None = None
    created: str | None = None


def _digest(inputs: object) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:12]


def _context_files(kind: str) -> dict[str, str]:
    """sha256 of every file in images/<kind>/ (the Dockerfile and pin lists)."""
    root = IMAGES_DIR / kind
    if not (root / "Dockerfile").is_file():
        raise ImageError(f"no Dockerfile for image kind {kind!r} at {root}")
    out = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        out[path.relative_to(root).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def image_tag(kind: str, *, base_image: str = DEFAULT_BASE) -> str:
    """'codex-sandbox/<kind>:<hash12>' of the current build inputs; needs no engine."""
    if kind not in IMAGE_KINDS:
        raise ImageError(f"unknown image kind {kind!r} (expected one of {', '.join(IMAGE_KINDS)})")
    if kind == "base":
        inputs = {
            "kind": kind,
            "base_image": base_image,
            "recipe": bootstrap.RECIPE_VERSION,
            "suite": bootstrap.SUITE,
            "variant": bootstrap.VARIANT,
            "changes": bootstrap.IMAGE_CHANGES,
        }
    else:
        inputs = {
            "kind": kind,
            "files": _context_files(kind),
            "base": image_tag("base", base_image=base_image),
        }
    return f"{REPOSITORY}/{kind}:{_digest(inputs)}"


def latest_tag(kind: str) -> str:
    return f"{REPOSITORY}/{kind}:latest"


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "codex-sandbox"


def log_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "codex-sandbox" / "image-builds"


def _get(client, ref: str):
    from docker.errors import ImageNotFound

    try:
        return client.images.get(ref)
    except ImageNotFound:
        return None


def require_image(kind: str, *, base_image: str = DEFAULT_BASE) -> str:
    """The tag of `kind` if it is built and current, else ImageError naming the fix."""
    from sandbox.docker.client import get_client

    tag = image_tag(kind, base_image=base_image)
    if _get(get_client(), tag) is None:
        raise ImageError(f"image {tag} is not built or out of date; run `codex-sandbox images build`")
    return tag


def list_images(*, base_image: str = DEFAULT_BASE) -> list[ImageInfo]:
    """Every kind's current tag and whether the engine has it."""
    from sandbox.docker.client import get_client

    client = get_client()
    out = []
    for kind in IMAGE_KINDS:
        tag = image_tag(kind, base_image=base_image)
        img = _get(client, tag)
        if img is None:
            out.append(ImageInfo(kind=kind, tag=tag, built=False))
        else:
            attrs = img.attrs
            out.append(
                ImageInfo(
                    kind=kind,
                    tag=tag,
                    built=True,
                    image_id=img.id,
                    size=attrs.get("Size"),
                    created=attrs.get("Created"),
                )
            )
    return out


def _build_lock():
    """One image build at a time per machine (parallel test runs and CLIs share the engine)."""
    from filelock import FileLock  # lazy: only builds need it

    return FileLock(str(Path(tempfile.gettempdir()) / f"codex-sandbox-images-{os.getuid()}.lock"))


def _order(kinds: list[str] | None) -> list[str]:
    wanted = list(IMAGE_KINDS) if not kinds else list(dict.fromkeys(kinds))
    for k in wanted:
        if k not in IMAGE_KINDS:
            raise ImageError(f"unknown image kind {k!r} (expected one of {', '.join(IMAGE_KINDS)})")
    return wanted


def ensure_images(
    kinds: list[str] | None = None,
    *,
    base_image: str = DEFAULT_BASE,
    progress: Progress | None = None,
    force: bool = False,
) -> dict[str, str]:
    """Build what is missing or stale (everything with force); returns {kind: tag} for `kinds`."""
    from sandbox.docker.client import get_client

    wanted = _order(kinds)
    report: Progress = progress or (lambda kind, event, message: None)
    client = get_client()
    result: dict[str, str] = {}
    with _build_lock():
        # --force with explicit kinds rebuilds those only (the base when it is asked for).
        base_id = _ensure_base(client, base_image, report, force and "base" in wanted)
        if "base" in wanted:
            result["base"] = image_tag("base", base_image=base_image)
        for kind in (k for k in IMAGE_KINDS if k in wanted and k != "base"):
            result[kind] = _ensure_derived(client, kind, base_image, base_id, report, force)
    return result


def _retag_latest(client, image, kind: str) -> None:
    if latest_tag(kind) not in (image.tags or []):
        image.tag(f"{REPOSITORY}/{kind}", "latest")


def _ensure_base(client, base_image: str, report: Progress, force: bool) -> str:
    """Returns the base image id, building (pull or debootstrap) only when needed."""
    tag = image_tag("base", base_image=base_image)
    repo, _, version = tag.partition(":")
    img = _get(client, tag)
    if img is not None and not force:
        _retag_latest(client, img, "base")
        report("base", "cached", tag)
        return img.id
    report("base", "start", f"looking for {base_image}")
    source = _get(client, base_image) or _try_pull(base_image, report)
    if source is not None:
        source.tag(repo, version)
        report("base", "step", f"using {base_image}")
    else:
        report(
            "base", "step", f"{base_image} unavailable; debootstrap {bootstrap.SUITE} ({bootstrap.VARIANT})"
        )
        log = _new_log("base")
        bootstrap.bootstrap_base(
            repo,
            version,
            log_path=log,
            on_line=lambda line: report("base", "step", line),
            labels={LABEL_KIND: "base", LABEL_HASH: version},
        )
    img = client.images.get(tag)
    _retag_latest(client, img, "base")
    _remove_stale_tags(client, "base", tag)
    report("base", "done", tag)
    return img.id


def _try_pull(ref: str, report: Progress):
    """Pull `ref` with a bounded wait; None when the registry is unreachable."""
    from docker.errors import DockerException
    from requests.exceptions import RequestException

    from sandbox.docker.client import get_client

    name, _, tag = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "latest")
    report("base", "step", f"pulling {ref}")
    try:
        return get_client(timeout=PULL_TIMEOUT_S).images.pull(name, tag=tag or "latest")
    except (DockerException, RequestException, OSError) as exc:
        report("base", "step", f"pull failed: {str(exc).splitlines()[0][:160]}")
        return None


def _ensure_derived(client, kind: str, base_image: str, base_id: str, report: Progress, force: bool) -> str:
    tag = image_tag(kind, base_image=base_image)
    img = _get(client, tag)
    # A base rebuilt with --force keeps its tag but not its id: derived images follow it.
    if img is not None and not force and (img.labels or {}).get(LABEL_BASE_ID) == base_id:
        _retag_latest(client, img, kind)
        report(kind, "cached", tag)
        return tag
    report(kind, "start", f"building {tag}")
    wheels = _download_wheels(kind, report)
    ctx = _make_context(kind, wheels)
    try:
        _docker_build(
            client, kind, tag, ctx, image_tag("base", base_image=base_image), base_id, report, force
        )
    finally:
        shutil.rmtree(ctx, ignore_errors=True)
    _retag_latest(client, client.images.get(tag), kind)
    _remove_stale_tags(client, kind, tag)
    report(kind, "done", tag)
    return tag


def _remove_stale_tags(client, kind: str, current: str) -> None:
    """Untag older hashes of `kind` so superseded images do not pile up (in-use ones stay)."""
    from docker.errors import APIError

    for img in client.images.list(name=f"{REPOSITORY}/{kind}"):
        for old in img.tags or []:
            if old not in (current, latest_tag(kind)) and old.startswith(f"{REPOSITORY}/{kind}:"):
                try:
                    client.images.remove(old)
                except APIError:
                    pass  # a container still uses it


def _pins(kind: str) -> list[str]:
    path = IMAGES_DIR / kind / "wheels.txt"
    if not path.is_file():
        return []
    return [ln.split("#")[0].strip() for ln in path.read_text().splitlines() if ln.split("#")[0].strip()]


def _norm(name: str) -> str:
    import re

    return re.sub(r"[-_.]+", "_", name).lower()


def _match(pin: str, wheel_dir: Path) -> Path | None:
    name, _, version = pin.partition("==")
    for path in sorted(wheel_dir.glob("*.whl")):
        parts = path.name.split("-")
        if len(parts) >= 2 and _norm(parts[0]) == _norm(name) and parts[1] == version:
            return path
    return None


def _download_wheels(kind: str, report: Progress) -> list[Path]:
    """The pinned wheels of `kind`, downloaded on the host once into the cache and reused."""
    import platform
    import subprocess
    import sys

    pins = _pins(kind)
    if not pins:
        return []
    for pin in pins:
        if "==" not in pin:
            raise ImageError(f"images/{kind}/wheels.txt: {pin!r} is not pinned (name==version)")
    wheel_dir = cache_dir() / "wheels"
    wheel_dir.mkdir(parents=True, exist_ok=True)
    missing = [p for p in pins if _match(p, wheel_dir) is None]
    if missing:
        report(kind, "step", f"downloading {', '.join(missing)}")
        arch = platform.machine()
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "--implementation",
            "cp",
            "--python-version",
            WHEEL_PYTHON,
            "--platform",
            f"manylinux_2_17_{arch}",
            "--platform",
            f"manylinux2014_{arch}",
            "--platform",
            f"manylinux1_{arch}",
            "-d",
            str(wheel_dir),
            *missing,
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            lines = (proc.stderr or proc.stdout).strip().splitlines() or ["?"]
            raise ImageError(f"pip download for the {kind} image failed: {lines[-1]}")
    found = [_match(p, wheel_dir) for p in pins]
    if any(f is None for f in found):
        raise ImageError(f"wheels for the {kind} image missing after download: {pins}")
    return [f for f in found if f is not None]


def _make_context(kind: str, wheels: list[Path]) -> Path:
    """A build context under the cache: images/<kind>/ plus the wheels, hard-linked (no 140 MB copies)."""
    root = cache_dir() / "contexts"
    root.mkdir(parents=True, exist_ok=True)
    ctx = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=root))
    shutil.copytree(IMAGES_DIR / kind, ctx, dirs_exist_ok=True)
    (ctx / "wheels").mkdir(exist_ok=True)
    for wheel in wheels:
        dest = ctx / "wheels" / wheel.name
        try:
            os.link(wheel, dest)
        except OSError:
            shutil.copy2(wheel, dest)
    return ctx


def _new_log(kind: str) -> Path:
    d = log_dir()
    d.mkdir(parents=True, exist_ok=True)
    return d / f"{kind}-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.log"


_NOISE = ("--->", "Removing intermediate container", "Successfully built", "Successfully tagged")


def _docker_build(client, kind, tag, ctx: Path, base_tag: str, base_id: str, report: Progress, force: bool):
    from docker.errors import DockerException
    from requests.exceptions import RequestException

    from sandbox.docker.client import get_client

    log = _new_log(kind)
    version = tag.partition(":")[2]
    api = get_client(timeout=BUILD_TIMEOUT_S).api
    error = None
    with open(log, "w") as fh:
        try:
            stream = api.build(
                path=str(ctx),
                tag=tag,
                buildargs={"BASE": base_tag},
                rm=True,
                forcerm=True,
                pull=False,
                nocache=force,
                decode=True,
                labels={LABEL_KIND: kind, LABEL_HASH: version, LABEL_BASE_ID: base_id},
            )
            for chunk in stream:
                text = chunk.get("stream") or chunk.get("status") or ""
                if text:
                    fh.write(text)
                    for line in text.splitlines():
                        if line.strip() and not line.lstrip().startswith(_NOISE):
                            report(kind, "step", line.strip())
                if "error" in chunk:
                    error = str(chunk["error"]).strip()
                    fh.write(f"ERROR: {error}\n")
        except (DockerException, RequestException, OSError) as exc:
            error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            fh.write(f"ERROR: {error}\n")
    if error is None and _get(client, tag) is None:
        error = "the engine reported no error but produced no image"
    _remove_stage_images(client)
    if error is not None:
        raise ImageError(f"building the {kind} image failed: {error[-300:]}; full log: {log}")


def _remove_stage_images(client) -> None:
    """Delete dangling images of throwaway stages (the unpacked wheel is hundreds of MB)."""
    from docker.errors import APIError

    for img in client.images.list(filters={"dangling": True, "label": LABEL_STAGE}):
        try:
            client.images.remove(img.id, noprune=False)
        except APIError:
            pass  # in use by a concurrent build: the next build removes it
