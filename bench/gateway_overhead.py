"""Added latency per streamed Responses answer through the model gateway vs direct to the same server.

Both paths hit one scripted model server in this process run; each request streams a typical Codex turn
(created, an apply_patch call, a message, completed). Target: median overhead under 5 ms per response.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from sandbox.gateway import Gateway, GatewayConfig
from sandbox.scripted_model import ScriptedModelServer

N = 400
WARMUP = 20
TARGET_MS = 5.0
PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+" + "x" * 2000 + "\n*** End Patch"
BODY = {
    "model": "gpt-5.5",
    "stream": True,
    "input": [{"type": "message", "role": "user", "content": "y" * 20000}],
}


def timed(client: httpx.Client, n: int) -> tuple[list[float], list[float]]:
    """(total ms, time-to-first-byte ms) per streamed response."""
    totals, firsts = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        first = None
        with client.stream("POST", "/responses", json=BODY) as r:
            for _chunk in r.iter_raw():
                if first is None:
                    first = time.perf_counter()
            assert r.status_code == 200
        end = time.perf_counter()
        totals.append((end - t0) * 1000)
        firsts.append(((first or end) - t0) * 1000)
    return totals, firsts


def cpu_seconds(pid: int) -> float:
    """User+system CPU time of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    """Measure both paths alternately and print medians and the overhead."""
    script = {"responses": [{"apply_patch": PATCH, "message": "done"}], "loop": True}
    with tempfile.TemporaryDirectory() as tmp, ScriptedModelServer(script) as srv:
        cfg = GatewayConfig(
            upstream_base_url=srv.base_url,
            api_key="sk-bench-not-a-key",
            run_dir=Path(tmp) / "run",
            cache_dir=Path(tmp) / "cache",
        )
        with Gateway(cfg) as gw:
            direct = httpx.Client(base_url=srv.base_url, timeout=10)
            via = httpx.Client(
                transport=httpx.HTTPTransport(uds=str(gw.socket_path)),
                base_url="http://gateway/v1",
                headers={"Authorization": f"Bearer {gw.run_token}"},
                timeout=10,
            )
            timed(direct, WARMUP)
            timed(via, WARMUP)
            d_tot, d_first, g_tot, g_first = [], [], [], []
            gw_cpu0 = cpu_seconds(gw.pid)
            for _ in range(N // 20):  # interleave so drift hits both paths alike
                a, b = timed(direct, 20)
                d_tot += a
                d_first += b
                a, b = timed(via, 20)
                g_tot += a
                g_first += b
            gw_cpu_ms = (cpu_seconds(gw.pid) - gw_cpu0) / N * 1000
            direct.close()
            via.close()
            assert gw.usage().requests == N + WARMUP
    md, mg = statistics.median(d_tot), statistics.median(g_tot)
    overhead = mg - md
    print(f"gateway overhead, {N} streamed responses per path (median):")
    print(
        f"  direct to scripted server   total {md:6.2f} ms   first byte {statistics.median(d_first):6.2f} ms"
    )
    print(
        f"  through the gateway         total {mg:6.2f} ms   first byte {statistics.median(g_first):6.2f} ms"
    )
    print(
        f"  added per response          {overhead:6.2f} ms   ratio {mg / md:4.2f}x   "
        f"p90 added {sorted(g_tot)[int(N * 0.9)] - sorted(d_tot)[int(N * 0.9)]:6.2f} ms"
    )
    print(f"  gateway process CPU         {gw_cpu_ms:6.2f} ms per response (forwarding, counting, recording)")
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    verdict = "PASS" if overhead < TARGET_MS else "FAIL"
    print(
        f"  target < {TARGET_MS:g} ms per response: {verdict}   (load average {load:.1f} on {cores} cores"
        + ("; figures include CPU contention from other work" if load > cores else "")
        + ")"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
