"""observe metrics: Prometheus text that parses, counters that move with runs."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from runner.cli.main import main
from runner.ops.metrics import render, serve
from runner.state.models import Run
from runner.state.store import Store


def samples(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def finish(store, kind: str, status: str, **fields) -> Run:
    run = Run(kind=kind, **fields)
    store.start_run(run)
    store.finish_run(run.id, event=f"run.{status}", status=status)
    return run


def test_metrics_parse_and_move(repo):
    with Store.open(repo) as store:
        before = samples(render(store))
        names = {f.name for f in text_string_to_metric_families(render(store))}
        assert {
            "task_duration_seconds",
            "llm_tokens_used",
            "policy_violations",
            "deployment_success_rate",
        } <= names
        finish(store, "build", "succeeded", tokens_in=1200, tokens_out=300)
        finish(store, "deploy", "succeeded")
        finish(store, "deploy", "failed")
        finish(store, "deploy", "succeeded")
        store.audit("build.gates", details={"decision": "block", "blocking": 2})
        after = samples(render(store))
    assert (
        after[("llm_tokens_used_total", (("direction", "input"),))]
        == before[("llm_tokens_used_total", (("direction", "input"),))] + 1200
    )
    assert after[("policy_violations_total", (("decision", "block"),))] == 2
    assert after[("deployment_success_rate", ())] == 2 / 3
    assert after[("task_duration_seconds_count", (("kind", "build"),))] == 1
    assert after[("task_duration_seconds_count", (("kind", "deploy"),))] == 3


def test_metrics_serve_and_cli(repo, monkeypatch, capsys):
    with Store.open(repo) as store:
        finish(store, "verify", "failed")
        server, _ = serve(store, 0)
        try:
            port = server.server_port
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
                text = resp.read().decode()
            assert samples(text)[("verify_runs_total", (("outcome", "failed"),))] == 1
            finish(store, "verify", "succeeded")
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
                assert samples(resp.read().decode())[("verify_runs_total", (("outcome", "passed"),))] == 1
        finally:
            server.shutdown()
    monkeypatch.chdir(repo)
    assert main(["observe", "metrics"]) == 0
    assert samples(capsys.readouterr().out)[("verify_runs_total", (("outcome", "passed"),))] == 1
