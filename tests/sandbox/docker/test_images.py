"""Image tags, caching and contents; engine tests reuse the images `make images` built."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.ci_support import missing_prerequisite

from sandbox.docker import images
from sandbox.docker.bootstrap import DEFAULT_MIRROR, host_mirrors
from sandbox.errors import ImageError

# The CLI of this interpreter (the venv's console script may not be on PATH under `make test`).
CLI = [sys.executable, "-c", "from runner.cli.main import main; main()"]
TAG_RE = re.compile(r"^codex-sandbox/(base|codex|python):[0-9a-f]{12}$")


@pytest.fixture
def images_copy(tmp_path, monkeypatch) -> Path:
    """A private copy of images/ that the tag functions read instead of the real one."""
    dest = tmp_path / "images"
    shutil.copytree(images.IMAGES_DIR, dest, ignore=shutil.ignore_patterns("host-deps.sh", ".wheels"))
    monkeypatch.setattr(images, "IMAGES_DIR", dest)
    return dest


# --- tags (no engine) -------------------------------------------------------------------------


def test_tags_are_stable_and_hash_shaped():
    for kind in images.IMAGE_KINDS:
        tag = images.image_tag(kind)
        assert TAG_RE.match(tag), tag
        assert images.image_tag(kind) == tag
    assert len({images.image_tag(k) for k in images.IMAGE_KINDS}) == 3


def test_dockerfile_change_changes_only_that_kind(images_copy):
    before = {k: images.image_tag(k) for k in images.IMAGE_KINDS}
    dockerfile = images_copy / "codex" / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "\n# touched\n")
    after = {k: images.image_tag(k) for k in images.IMAGE_KINDS}
    assert after["codex"] != before["codex"]
    assert after["python"] == before["python"] and after["base"] == before["base"]
    dockerfile.write_text(dockerfile.read_text().removesuffix("\n# touched\n"))
    assert images.image_tag("codex") == before["codex"]


def test_pin_change_and_new_context_file_change_the_tag(images_copy):
    before = images.image_tag("python")
    pins = images_copy / "python" / "wheels.txt"
    pins.write_text(pins.read_text().replace("pytest==8.3.5", "pytest==8.3.4"))
    bumped = images.image_tag("python")
    assert bumped != before
    (images_copy / "python" / "extra.cfg").write_text("x = 1\n")
    assert images.image_tag("python") not in (before, bumped)


def test_base_image_setting_flows_into_every_tag():
    default = {k: images.image_tag(k) for k in images.IMAGE_KINDS}
    other = {k: images.image_tag(k, base_image="debian:bookworm") for k in images.IMAGE_KINDS}
    assert all(default[k] != other[k] for k in images.IMAGE_KINDS)


def test_unknown_kind_is_refused():
    with pytest.raises(ImageError, match="unknown image kind 'ruby'"):
        images.image_tag("ruby")
    with pytest.raises(ImageError, match="unknown image kind"):
        images.ensure_images(["ruby"])


def test_pins_are_exact_and_match_wheel_names(tmp_path):
    for kind in ("codex", "python"):
        assert images._pins(kind) and all("==" in p for p in images._pins(kind))
    (tmp_path / "pytest_cov-6.1.1-py3-none-any.whl").write_bytes(b"")
    (tmp_path / "openai_codex_cli_bin-0.163.0-py3-none-manylinux_2_17_x86_64.whl").write_bytes(b"")
    assert images._match("pytest-cov==6.1.1", tmp_path).name.startswith("pytest_cov-6.1.1")
    assert images._match("openai-codex-cli-bin==0.163.0", tmp_path) is not None
    assert images._match("pytest-cov==6.1.0", tmp_path) is None


def test_host_mirrors_reads_deb822_and_one_line_sources(tmp_path):
    d = tmp_path / "apt"
    (d / "sources.list.d").mkdir(parents=True)
    (d / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example.org/debian/\nSuites: bookworm bookworm-updates\n"
        "Components: main\n\nTypes: deb\nURIs: http://sec.example.org/debian-security\n"
        "Suites: bookworm-security\nComponents: main\n"
    )
    (d / "sources.list.d" / "other.list").write_text("deb https://packages.example.com/apt stable main\n")
    assert host_mirrors(d) == ("http://mirror.example.org/debian", "http://sec.example.org/debian-security")
    assert host_mirrors(tmp_path / "none") == (DEFAULT_MIRROR, None)
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "sources.list").write_text(
        "# c\ndeb [arch=amd64] http://m.example.net/debian bookworm main\n"
    )
    assert host_mirrors(tmp_path / "one")[0] == "http://m.example.net/debian"


# --- the built images (engine) ----------------------------------------------------------------


def _require_built() -> dict[str, str]:
    """The current tags; a missing image fails in CI (make test builds them first), else skips."""
    missing = [i.tag for i in images.list_images() if not i.built]
    if missing:
        missing_prerequisite(f"images not built ({', '.join(missing)}); run `codex-sandbox images build`")
    return {k: images.image_tag(k) for k in images.IMAGE_KINDS}


def _require_base() -> str:
    """The built base (for scratch builds that must not bootstrap)."""
    from docker.errors import ImageNotFound

    from sandbox.docker.client import get_client

    try:
        get_client().images.get("codex-sandbox/base:latest")
    except ImageNotFound:
        missing_prerequisite("base image not built; run `codex-sandbox images build`")
    return "codex-sandbox/base:latest"


def _run(image: str, *cmd: str, user: str = "1000:1000") -> str:
    """Run `cmd` hardened the way sandboxes are (read-only root, no caps) and return its output."""
    from sandbox.docker.client import get_client

    out = get_client().containers.run(
        image,
        list(cmd),
        user=user,
        read_only=True,
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        tmpfs={"/tmp": "size=64m", "/home/sandbox": "size=64m"},
        network_mode="none",
        init=True,
        remove=True,
        stdout=True,
        stderr=True,
        labels={"io.codex-sandbox.test": "images"},
    )
    return out.decode()


@pytest.mark.docker
def test_second_build_reuses_every_image():
    from sandbox.docker.client import get_client

    tags = _require_built()
    client = get_client()
    ids = {k: client.images.get(t).id for k, t in tags.items()}
    events: list[tuple[str, str, str]] = []
    result = images.ensure_images(progress=lambda *e: events.append(e))
    assert result == tags
    assert {k for k, ev, _ in events if ev == "cached"} == set(images.IMAGE_KINDS)
    assert not [e for e in events if e[1] in ("start", "step", "done")], events
    assert {k: client.images.get(t).id for k, t in tags.items()} == ids
    assert {k: client.images.get(images.latest_tag(k)).id for k in tags} == ids
    assert images.require_image("codex") == tags["codex"]


@pytest.mark.docker
def test_codex_runs_as_uid_1000_on_a_read_only_root():
    tags = _require_built()
    out = _run(
        tags["codex"], "sh", "-c", "codex --version; id -u; id -un; echo HOME=$HOME; touch /x 2>&1 || true"
    )
    assert re.search(r"codex-cli 0\.163\.0", out), out
    assert "\n1000\nsandbox\n" in out and "HOME=/home/sandbox" in out
    assert "Read-only file system" in out


@pytest.mark.docker
def test_codex_image_has_its_tools():
    tags = _require_built()
    out = _run(
        tags["codex"],
        "sh",
        "-c",
        "python3 --version && git --version && rg --version && socat -V && "
        "test -s /etc/ssl/certs/ca-certificates.crt && echo CERTS",
    )
    for needle in ("Python 3.11", "git version", "ripgrep", "socat version", "CERTS"):
        assert needle in out, out


@pytest.mark.docker
def test_python_image_runs_pytest_with_coverage():
    tags = _require_built()
    script = (
        "cd /tmp && printf 'def test_ok():\\n    assert 1 + 1 == 2\\n' > test_a.py && "
        "python3 -m pytest -q -p no:cacheprovider --cov=. test_a.py && "
        "python3 -m venv --without-pip /tmp/venv && /tmp/venv/bin/python -c 'print(\"VENV\")' && git --version"
    )
    out = _run(tags["python"], "sh", "-c", script)
    assert "1 passed" in out and "TOTAL" in out and "VENV" in out and "git version" in out, out


@pytest.mark.docker
def test_require_image_names_the_fix_when_missing():
    with pytest.raises(ImageError, match="run `codex-sandbox images build`"):
        images.require_image("python", base_image="example.invalid/never-built:1")


@pytest.mark.docker
def test_cli_images_list_and_build_json():
    tags = _require_built()
    proc = subprocess.run(
        [*CLI, "images", "list", "--json"], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [r["kind"] for r in rows] == list(images.IMAGE_KINDS)
    assert all(r["built"] and r["tag"] == tags[r["kind"]] and r["size"] > 0 for r in rows)
    built = subprocess.run(
        [*CLI, "images", "build", "--json"], capture_output=True, text=True, timeout=120, check=False
    )
    assert built.returncode == 0, built.stderr
    assert json.loads(built.stdout) == tags
    assert built.stderr == ""


def test_cli_unreachable_engine_is_exit_4():
    env = {**os.environ, "DOCKER_HOST": "tcp://127.0.0.1:9"}
    proc = subprocess.run(
        [*CLI, "images", "list"], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert proc.returncode == 4
    assert proc.stderr.strip().startswith("error: cannot reach the Docker engine at tcp://127.0.0.1:9 (DOCKER_HOST)")
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


# --- a full build cycle in a private repository (engine) --------------------------------------


@pytest.fixture
def scratch_repo(tmp_path, monkeypatch):
    """Build into codex-sandbox-test-<pid>/*, from a tiny images/ dir; removes every tag afterwards."""
    from sandbox.docker.client import get_client

    repo = f"codex-sandbox-test-{os.getpid()}"
    monkeypatch.setattr(images, "REPOSITORY", repo)
    root = tmp_path / "images"
    (root / "python").mkdir(parents=True)
    monkeypatch.setattr(images, "IMAGES_DIR", root)
    yield root
    client = get_client()
    for img in client.images.list():
        for tag in img.tags or []:
            if tag.startswith(repo + "/"):
                client.images.remove(tag)


@pytest.mark.docker
def test_build_cycle_cached_forced_rebuilt_and_stale_tag_removed(scratch_repo):
    from sandbox.docker.client import get_client

    base = _require_base()  # present locally: used as the configured base, no bootstrap
    client = get_client()
    dockerfile = scratch_repo / "python" / "Dockerfile"
    dockerfile.write_text("ARG BASE\nFROM ${BASE}\nRUN echo one > /marker\n")
    events: list[tuple[str, str, str]] = []
    first = images.ensure_images(["python"], base_image=base, progress=lambda *e: events.append(e))
    assert ("python", "start", f"building {first['python']}") in events
    assert client.images.get(first["python"]).labels[images.LABEL_BASE_ID] == client.images.get(base).id
    first_id = client.images.get(first["python"]).id

    events.clear()
    assert images.ensure_images(["python"], base_image=base, progress=lambda *e: events.append(e)) == first
    assert [e[:2] for e in events] == [("base", "cached"), ("python", "cached")]
    assert client.images.get(first["python"]).id == first_id

    forced = images.ensure_images(["python"], base_image=base, force=True)
    assert forced == first and client.images.get(first["python"]).id != first_id  # rebuilt without cache
    assert client.images.get(images.latest_tag("base")).id == client.images.get(base).id  # base not forced

    dockerfile.write_text("ARG BASE\nFROM ${BASE}\nRUN echo two > /marker\n")
    second = images.ensure_images(["python"], base_image=base)
    assert second["python"] != first["python"]
    latest = client.images.get(images.latest_tag("python"))
    assert first["python"] not in latest.tags and second["python"] in latest.tags
    assert all(
        first["python"] not in (i.tags or []) for i in client.images.list(name=f"{images.REPOSITORY}/python")
    )


@pytest.mark.docker
def test_build_failure_names_its_log(scratch_repo):
    base = _require_base()
    (scratch_repo / "python" / "Dockerfile").write_text(
        "ARG BASE\nFROM ${BASE}\nRUN echo step-output-before-failure && exit 3\n"
    )
    with pytest.raises(ImageError) as err:
        images.ensure_images(["python"], base_image=base)
    message = str(err.value)
    assert len(message.splitlines()) == 1 and "returned a non-zero code: 3" in message
    log = Path(message.rsplit("full log: ", 1)[1])
    assert "step-output-before-failure" in log.read_text()
