"""The concrete sandbox, store and gate classes satisfy the Protocols the runner depends on."""

from __future__ import annotations

import subprocess
from pathlib import Path

from runner.config.policy import default_policy
from runner.policy.engine import PolicyGate
from runner.seams import BuildStore, ContainerRunner, Gate, ModelGateway, WorktreePool
from runner.state.store import Store
from sandbox.docker.container import run_container
from sandbox.gateway import Gateway, GatewayConfig
from sandbox.gateway.placement import GatewayPlacement
from sandbox.gateway.sidecar import SidecarGateway
from sandbox.tree.worktree import WorktreeManager


def _repo(path: Path) -> Path:
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    return path


def _gateway_config(tmp_path: Path) -> GatewayConfig:
    return GatewayConfig(upstream_base_url="http://127.0.0.1:9/v1", api_key="sk-x", run_dir=tmp_path / "run")


def test_both_gateway_placements_are_model_gateways(tmp_path):
    config = _gateway_config(tmp_path)
    host = Gateway(config)
    sidecar = SidecarGateway(config, repo=tmp_path, run_id="r1")
    for gateway in (host, sidecar):
        assert isinstance(gateway, ModelGateway)
        assert gateway.sidecar_url is None and gateway.network is None and gateway.socket_path is None
    assert isinstance(GatewayPlacement(setting="socket").build(config, repo=tmp_path, run_id="r1"), Gateway)
    assert isinstance(GatewayPlacement(setting="sidecar").build(config, repo=tmp_path, run_id="r1"), SidecarGateway)
    remote = GatewayPlacement(docker_host="tcp://10.0.0.7:2376")
    assert remote.kind == "sidecar" and GatewayPlacement(docker_host="unix:///run/docker.sock").kind == "socket"


def test_worktrees_containers_store_and_gate_satisfy_their_protocols(tmp_path):
    repo = _repo(tmp_path / "repo")
    assert isinstance(WorktreeManager(repo), WorktreePool)
    assert isinstance(run_container, ContainerRunner)
    assert isinstance(PolicyGate(repo, default_policy()), Gate)
    with Store.open(repo) as store:
        assert isinstance(store, BuildStore)
