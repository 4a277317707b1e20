"""The hardened create() arguments and the seccomp profile, without an engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandbox.docker import labels as lbl
from sandbox.docker import seccomp
from sandbox.docker.container import Mount, RunSpec, container_kwargs
from sandbox.errors import ContainerError
from sandbox.settings import LimitsConfig


def test_hardened_defaults(tmp_path):
    (tmp_path / ".git").write_text("gitdir: x\n")
    spec = RunSpec(
        image="img",
        command=["true"],
        workspace=tmp_path,
        limits=LimitsConfig(memory="256m", cpus=1.5, pids=99, tmpfs_mb=32),
        labels={lbl.RUN: "r1"},
    )
    kw = container_kwargs(spec, "1000:1000")
    assert kw["cap_drop"] == ["ALL"] and kw["init"] is True and kw["read_only"] is True
    assert kw["privileged"] is False and kw["network_mode"] == "none"
    assert "no-new-privileges:true" in kw["security_opt"]
    sec = [o for o in kw["security_opt"] if o.startswith("seccomp=")]
    assert len(sec) == 1 and "unconfined" not in sec[0]
    assert json.loads(sec[0][len("seccomp=") :])["defaultAction"] == "SCMP_ACT_ERRNO"
    assert kw["pids_limit"] == 99 and kw["mem_limit"] == kw["memswap_limit"] == "256m"
    assert kw["nano_cpus"] == 1_500_000_000
    assert all("nosuid" in o and "nodev" in o and "size=32m" in o for o in kw["tmpfs"].values())
    targets = {m["Target"]: m for m in kw["mounts"]}
    assert set(targets) == {"/workspace", "/workspace/.git"}
    assert targets["/workspace/.git"]["ReadOnly"] is True and targets["/workspace"]["ReadOnly"] is False
    assert kw["labels"][lbl.MANAGED] == "true" and kw["labels"][lbl.RUN] == "r1"
    assert kw["name"] == "codex-sandbox-r1"


def test_named_network_and_bad_mounts(tmp_path):
    kw = container_kwargs(RunSpec(image="i", command=["x"], network="my-net"), "1:1")
    assert kw["network"] == "my-net" and "network_mode" not in kw
    with pytest.raises(ContainerError):
        container_kwargs(RunSpec(image="i", command=["x"], network="host"), "1:1")
    with pytest.raises(ContainerError):
        container_kwargs(
            RunSpec(
                image="i", command=["x"], mounts=[Mount(source=Path("/var/run/docker.sock"), target="/s")]
            ),
            "1:1",
        )
    with pytest.raises(ContainerError):
        container_kwargs(
            RunSpec(image="i", command=["x"], mounts=[Mount(source=tmp_path, target="/workspace")]), "1:1"
        )


def test_profile_has_no_io_uring_and_no_unconditional_ptrace():
    profile = seccomp.profile()
    names = {n for rule in profile["syscalls"] for n in rule["names"]}
    assert not {n for n in names if n.startswith("io_uring")}
    assert not (seccomp.unconditionally_allowed() & seccomp.FORBIDDEN)
    assert {"read", "write", "execve", "clone", "openat"} <= names
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"
    # deriving again from our own file changes nothing (the data file is already derived)
    assert seccomp.derive_profile(profile) == profile


def test_derive_removes_io_uring_from_an_upstream_style_profile():
    upstream = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            {
                "names": ["read", "io_uring_setup", "io_uring_enter", "io_uring_register"],
                "action": "SCMP_ACT_ALLOW",
            },
            {
                "names": ["ptrace"],
                "action": "SCMP_ACT_ALLOW",
                "includes": {"minKernel": "4.8"},
                "comment": "x",
            },
            {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_PTRACE"]}},
        ],
    }
    out = seccomp.derive_profile(upstream)
    assert out["syscalls"][0]["names"] == ["read"]
    assert len(out["syscalls"]) == 2 and "comment" not in json.dumps(out)
