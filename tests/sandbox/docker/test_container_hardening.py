"""From inside a real container: the hardening holds (user, caps, seccomp, network, read-only root, limits)."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import pytest
from tests.sandbox.sandbox_images import probe_image

from sandbox.docker.container import RunSpec, default_user, run_container
from sandbox.settings import LimitsConfig

pytestmark = pytest.mark.docker

# x86_64 syscall numbers; perl (in every image, perl-base) makes the raw calls.
SYSCALLS = {"unshare": 272, "mount": 165, "keyctl": 250, "ptrace": 101, "io_uring_setup": 425, "setns": 308}


@pytest.fixture(scope="module")
def image() -> str:
    return probe_image()


def run(image: str, script: str, *, workspace: Path | None = None, **limits) -> tuple[str, object]:
    out: list[str] = []
    spec = RunSpec(
        image=image,
        command=["bash", "-c", script],
        workspace=workspace,
        limits=LimitsConfig(**{"timeout_s": 30, **limits}),
    )
    result = run_container(spec, on_output=out.append)
    return "".join(out), result


def status_fields(text: str) -> dict[str, str]:
    return {k: v.strip() for k, _, v in (line.partition(":") for line in text.splitlines()) if v}


def test_unprivileged_user_no_caps_seccomp_filter_no_new_privs(image, tmp_path):
    out, result = run(image, "id -u; id -g; cat /proc/self/status", workspace=tmp_path)
    assert result.ok, out
    lines = out.splitlines()
    uid, gid = (int(x) for x in default_user().split(":"))
    assert (int(lines[0]), int(lines[1])) == (uid, gid)
    assert uid != 0
    if os.geteuid() != 0:
        assert uid == os.getuid()
    fields = status_fields(out)
    assert (
        int(fields["CapEff"], 16) == 0 and int(fields["CapPrm"], 16) == 0 and int(fields["CapBnd"], 16) == 0
    )
    assert fields["Seccomp"] == "2"
    assert fields["NoNewPrivs"] == "1"


@pytest.mark.skipif(platform.machine() != "x86_64", reason="syscall numbers are x86_64")
def test_seccomp_blocks_namespaces_mount_keyctl_ptrace_io_uring(image):
    calls = " ".join(f"{name}={nr}" for name, nr in SYSCALLS.items())
    script = (
        "for kv in " + calls + "; do n=${kv%=*}; nr=${kv#*=}; "
        "perl -e '$r = syscall($ARGV[0], 0, 0, 0, 0); printf \"%s %d %d\\n\", $ARGV[1], $r, $!+0' $nr $n; done; "
        'unshare -U true 2>/dev/null; echo "unshare_cmd $?"'
    )
    out, result = run(image, script)
    assert result.ok, out
    got = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()}
    for name in SYSCALLS:
        ret, errno = (int(x) for x in got[name])
        assert ret == -1, f"{name} succeeded inside the sandbox"
        assert errno in (1, 38), f"{name}: errno {errno} (want EPERM from seccomp, or ENOSYS)"
    assert got["unshare_cmd"] != ["0"]


def test_no_network(image):
    from sandbox.docker.client import get_client

    bridge = get_client().networks.get("bridge").attrs["IPAM"]["Config"][0].get("Gateway", "172.17.0.1")
    script = (
        f"for t in 1.1.1.1/53 {bridge}/22 {bridge}/2375 127.0.0.1/80; do "
        'timeout 3 bash -c "echo > /dev/tcp/$t" 2>/dev/null && echo "open $t" || echo "closed $t"; done; '
        "ls /sys/class/net"
    )
    out, result = run(image, script)
    assert result.ok, out
    assert "open " not in out
    assert out.count("closed ") == 4
    assert out.split()[-1] == "lo"  # no interface but loopback


def test_read_only_root_tmpfs_tmp_and_home(image):
    script = (
        "touch /usr/x 2>/dev/null && echo usr-writable; touch /etc/x 2>/dev/null && echo etc-writable; "
        "echo t > /tmp/t && echo tmp-ok; echo h > $HOME/h && echo home-ok; "
        "grep -E ' /tmp | '$HOME' ' /proc/mounts; test -S /var/run/docker.sock && echo socket"
    )
    out, _ = run(image, script)
    assert "writable" not in out and "socket" not in out
    assert "tmp-ok" in out and "home-ok" in out
    mounts = [line for line in out.splitlines() if line.startswith("tmpfs")]
    assert len(mounts) == 2 and all("nosuid" in m and "nodev" in m for m in mounts)


def test_workspace_files_owned_by_host_user_and_git_covered(image, tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "old.txt").write_text("old\n")
    (ws / "untouched.txt").write_text("same\n")
    sandbox_uid = int(default_user().split(":")[0])
    if os.geteuid() == 0:  # as a pooled tree lent to the sandbox uid earlier
        os.chown(ws / "untouched.txt", sandbox_uid, sandbox_uid)
        time.sleep(0.1)
    before = os.lstat(ws / "untouched.txt")
    (ws / ".git").write_text("gitdir: /somewhere/else\n")
    script = (
        "mkdir -p /workspace/sub && echo new > /workspace/sub/new.txt && echo more >> /workspace/old.txt && "
        "ln -s /etc/passwd /workspace/link && "
        "test ! -s /workspace/.git && echo git-empty; echo x > /workspace/.git 2>/dev/null || echo git-ro"
    )
    out, result = run(image, script, workspace=ws)
    assert result.ok, out
    assert "git-empty" in out and "git-ro" in out
    assert (ws / ".git").read_text() == "gitdir: /somewhere/else\n"
    for path in (ws, ws / "sub", ws / "sub" / "new.txt", ws / "old.txt", ws / "link"):
        st = os.lstat(path)
        assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid()), path
    assert os.lstat("/etc/passwd").st_uid == 0  # the symlink's target was never chowned
    after = os.lstat(ws / "untouched.txt")  # not written: owner and ctime kept (a pooled tree's record holds)
    assert (after.st_uid, after.st_ctime_ns) == (before.st_uid, before.st_ctime_ns)


def test_fork_bomb_stopped_by_pids_limit(image):
    # a classic bomb never ends by itself; the pids limit keeps it small and the timeout ends it
    out, result = run(image, "b(){ b | b; }; b", pids=64, timeout_s=4)
    assert "Resource temporarily unavailable" in out
    assert not result.ok and result.duration_s < 10


def test_memory_hog_reported_as_oom(image):
    out, result = run(image, "head -c 400m /dev/zero | tail", memory="64m")
    assert result.oom_killed, (out, result)
    assert not result.ok and result.reason == "killed: out of memory"


def test_sleep_killed_by_timeout(image, tmp_path):
    log = tmp_path / "run.log"
    spec = RunSpec(
        image=image,
        command=["bash", "-c", "echo started; sleep 60"],
        limits=LimitsConfig(timeout_s=2),
        log_path=log,
    )
    result = run_container(spec)
    assert result.timed_out and not result.ok and result.reason == "timed out"
    assert result.duration_s < 10
    assert "started" in log.read_text() and "timed out" in log.read_text()


def test_disk_cap_stops_the_run(image, tmp_path):
    out, result = run(
        image,
        "dd if=/dev/zero of=/workspace/big bs=1M count=64 status=none; sleep 30; echo finished",
        workspace=tmp_path,
        disk_mb=16,
    )
    assert result.disk_exceeded and not result.ok
    assert "finished" not in out
    assert result.duration_s < 15
