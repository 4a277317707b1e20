"""A worktree's own size-capped filesystem: an ext4 image in a sparse file, loop-mounted at the tree.

A bind mount has no quota, so a poll can only notice a flood after the fact (`fallocate` takes a
gigabyte in one call; an unlinked open file is seen by no walk). On its own filesystem the tree
cannot grow past the cap at all: the kernel answers ENOSPC. This needs root and a loop device;
where either is missing the caller falls back to polling and says so.
"""

from __future__ import annotations

import os
import subprocess
from functools import lru_cache
from pathlib import Path

from sandbox.errors import WorktreeError
from sandbox.tools import find_tool

MIB = 1024 * 1024
SLACK_BYTES = 8 * MIB  # ext4's own metadata on a small filesystem; on top of it 2 % for inode tables


@lru_cache(maxsize=1)
def unavailable_reason() -> str | None:
    """Why a capped filesystem cannot be made here (None when it can)."""
    if os.geteuid() != 0:
        return "not root (mounting a filesystem image needs root)"
    for tool in ("mkfs.ext4", "mount", "umount"):
        if find_tool(tool) is None and not Path(f"/usr/sbin/{tool}").exists() and not Path(f"/sbin/{tool}").exists():
            return f"{tool} not found (apt-get install e2fsprogs mount)"
    if not Path("/dev/loop-control").exists():
        return "no loop devices (/dev/loop-control missing)"
    return None


def _tool(name: str) -> str:
    found = find_tool(name)
    if found:
        return found
    for d in ("/usr/sbin", "/sbin"):
        if Path(d, name).exists():
            return str(Path(d, name))
    raise WorktreeError(f"{name} not found")


def image_size(tree_bytes: int, files: int, cap_bytes: int) -> int:
    """Bytes of an image that holds the tree and leaves about `cap_bytes` free for a run."""
    allocated = tree_bytes + files * 4096  # every file rounds up to a block
    return int((allocated + cap_bytes) * 1.02) + SLACK_BYTES


def create(image: Path, mountpoint: Path, size_bytes: int) -> None:
    """Make the image, format it and mount it at `mountpoint` (which must be absent or empty)."""
    image.unlink(missing_ok=True)
    with open(image, "wb") as fh:
        fh.truncate(size_bytes)  # sparse: takes no space until written
    os.chmod(image, 0o600)
    _run([_tool("mkfs.ext4"), "-q", "-F", "-m", "0", "-O", "^has_journal",
          "-E", "lazy_itable_init=1,nodiscard", str(image)], f"cannot format {image}")
    mountpoint.mkdir(parents=True, exist_ok=True)
    try:
        _run([_tool("mount"), "-o", "loop,nosuid,nodev", str(image), str(mountpoint)], f"cannot mount {image}")
    except WorktreeError:
        image.unlink(missing_ok=True)
        raise
    (mountpoint / "lost+found").rmdir()  # the tree's root is the filesystem's root: nothing else in it


def destroy(image: Path, mountpoint: Path) -> None:
    """Unmount (lazily if a straggler still holds it) and delete the image; the mountpoint stays, empty."""
    if os.path.ismount(mountpoint):
        proc = subprocess.run([_tool("umount"), str(mountpoint)], capture_output=True, check=False)
        if proc.returncode != 0:
            _run([_tool("umount"), "-l", str(mountpoint)], f"cannot unmount {mountpoint}")
    image.unlink(missing_ok=True)


def mounted_size(mountpoint: Path) -> int | None:
    """Size of the filesystem mounted at `mountpoint`, None when nothing is mounted there."""
    if not os.path.ismount(mountpoint):
        return None
    st = os.statvfs(mountpoint)
    return st.f_blocks * st.f_frsize


def _run(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise WorktreeError(f"{what}: {tail[0]}")


def unmount_below(top: Path) -> int:
    """Unmount every capped tree under `top` (a scratch state dir being thrown away); returns how many."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return 0
    prefix = str(Path(top).resolve()) + "/"
    done = 0
    for line in mounts:
        fields = line.split()
        point = fields[1].replace("\\040", " ") if len(fields) > 1 else ""
        if point.startswith(prefix):
            subprocess.run([_tool("umount"), "-l", point], capture_output=True, check=False)
            done += 1
    return done
