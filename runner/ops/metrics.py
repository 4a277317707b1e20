"""Prometheus metrics built from the store on every scrape (a private registry, never the global one)."""

from __future__ import annotations

from datetime import datetime

BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, float("inf"))


def _seconds(run) -> float | None:
    if not run.finished_at:
        return None
    try:
        return max(
            0.0,
            (
                datetime.fromisoformat(run.finished_at) - datetime.fromisoformat(run.started_at)
            ).total_seconds(),
        )
    except ValueError:
        return None


class StoreCollector:
    """Yields the seed's metrics from the runs and audit tables each time it is collected."""

    def __init__(self, store):
        self.store = store

    def describe(self):
        return []  # built per scrape; nothing to pre-register

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        runs = self.store.list_runs()
        hist = HistogramMetricFamily(
            "task_duration_seconds", "Wall time of finished runs, by kind.", labels=["kind"]
        )
        for kind in ("build", "verify", "deploy", "sandbox"):
            durations = [d for r in runs if r.kind == kind and (d := _seconds(r)) is not None]
            if not durations:
                continue
            buckets = [(_le(b), float(sum(1 for d in durations if d <= b))) for b in BUCKETS]
            hist.add_metric([kind], buckets, sum_value=float(sum(durations)))
        yield hist

        tokens = CounterMetricFamily(
            "llm_tokens_used", "Model tokens spent (runs and planning).", labels=["direction"]
        )
        spent_in, spent_out = self.store.tokens_spent()
        tokens.add_metric(["input"], float(spent_in))
        tokens.add_metric(["output"], float(spent_out))
        yield tokens

        violations = CounterMetricFamily(
            "policy_violations", "Blocking gate findings over all builds, merges and deploys.", labels=["decision"]
        )
        blocked = warned = 0
        events = [e for name in ("build.gates", "build.merge_gated", "deploy.gated")
                  for e in self.store.audit_events(event=name)]  # fmt: skip
        for event in events:
            details = event.details or {}
            if details.get("decision") == "block":
                count = details.get("blocking")  # a number (build), a list of findings (deploy), or absent
                blocked += (len(count) if isinstance(count, list) else int(count or 0)) or 1
            elif details.get("decision") == "warn":
                warned += 1
        violations.add_metric(["block"], float(blocked))
        violations.add_metric(["warn"], float(warned))
        yield violations

        deploys = [r for r in runs if is_deployment(r)]
        ok = sum(1 for r in deploys if r.status == "succeeded")
        total = CounterMetricFamily("deployments", "Finished deploys by outcome.", labels=["outcome"])
        total.add_metric(["succeeded"], float(ok))
        total.add_metric(["failed"], float(len(deploys) - ok))
        yield total
        rate = GaugeMetricFamily(
            "deployment_success_rate", "Share of finished deploys that succeeded (NaN: none)."
        )
        rate.add_metric([], ok / len(deploys) if deploys else float("nan"))
        yield rate

        verifies = [r for r in runs if r.kind == "verify" and r.status in ("succeeded", "failed")]
        vt = CounterMetricFamily("verify_runs", "Finished verify runs by outcome.", labels=["outcome"])
        vt.add_metric(["passed"], float(sum(1 for r in verifies if r.status == "succeeded")))
        vt.add_metric(["failed"], float(sum(1 for r in verifies if r.status == "failed")))
        yield vt


def is_deployment(run) -> bool:
    """A deploy or rollback that reached the environment and ended: not one a check refused (gate, state,
    nothing to roll back to) nor one still running."""
    return (run.kind == "deploy" and run.status in ("succeeded", "failed")
            and (run.details or {}).get("outcome") not in ("refused", "blocked"))


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)


def registry_for(store):
    """A private CollectorRegistry holding only our store-backed collector."""
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(store))
    return registry


def render(store) -> str:
    """The metrics in the Prometheus text exposition format."""
    from prometheus_client import generate_latest

    return generate_latest(registry_for(store)).decode("utf-8")


def as_json(store) -> dict:
    """The same metric families as `render`, as JSON (`observe metrics --json`): NaN and +Inf are not
    JSON numbers, so a value with no data is null and a bucket bound is its Prometheus string."""
    import math

    families = []
    for family in StoreCollector(store).collect():
        samples = [
            {"name": s.name, "labels": dict(s.labels),
             "value": None if math.isnan(s.value) or math.isinf(s.value) else s.value}
            for s in family.samples
        ]
        families.append({"name": family.name, "type": family.type, "help": family.documentation,
                         "samples": samples})
    return {"families": families}


def serve(store, port: int, addr: str = "127.0.0.1"):
    """Serve /metrics on addr:port in a background thread; returns (server, thread)."""
    from prometheus_client import start_http_server

    return start_http_server(port, addr=addr, registry=registry_for(store))
