"""Entry points of the compose services that need more than one command line (see compose.yaml).

`python -m runner.ops.compose_services demo-script OUT` writes the long-lived demo model's script (at image build);
`python -m runner.ops.compose_services gateway --listen HOST:PORT` starts the model gateway from the environment.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

KEY_ENV = "OPENAI_API_KEY"
TOKEN_ENV = "CODEX_GATEWAY_TOKEN"
UPSTREAM_ENV = "CODEX_LLM_BASE_URL"
DEFAULT_UPSTREAM = "http://demo-model:8000/v1"
DEMO_CHAT_ANSWER = "OFFLINE DEMO MODEL: this answer comes from the scripted model server of the compose set-up, not a real model."


def compose_demo_script() -> dict[str, Any]:
    """The bundled demo script, plus a Chat Completions answer, looping: a long-lived server never runs dry."""
    from runner.ops.demo import demo_script

    script = demo_script()
    script.setdefault(
        "chat", [{"content": DEMO_CHAT_ANSWER, "usage": {"input_tokens": 12, "output_tokens": 20}}]
    )
    script["loop"] = True
    return script


def gateway_config(env: dict[str, str], listen: str, run_dir: Path) -> dict[str, Any]:
    """The gateway's stdin configuration from the service environment; ValueError names what is missing."""
    token = env.get(TOKEN_ENV, "").strip()
    if len(token) < 16:
        raise ValueError(f"{TOKEN_ENV} must be set to a token of at least 16 characters (clients present it)")
    cfg: dict[str, Any] = {
        "upstream_base_url": env.get(UPSTREAM_ENV) or DEFAULT_UPSTREAM,
        "api_key": env.get(KEY_ENV, ""),
        "run_dir": str(run_dir),
        "run_token": token,
        "tcp_listen": listen,
    }
    if env.get("CODEX_LLM_REQUEST_TIMEOUT_S"):
        cfg["request_timeout_s"] = float(env["CODEX_LLM_REQUEST_TIMEOUT_S"])
    return cfg


def exec_gateway(listen: str, run_dir: Path) -> None:
    """Replace this process with `python -m sandbox.gateway --until-signal`, its config (and key) on a pipe."""
    try:
        data = json.dumps(gateway_config(dict(os.environ), listen, run_dir)).encode() + b"\n"
    except ValueError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    # The key travels on stdin only: the gateway's environment (readable in /proc) never holds it.
    env = {k: v for k, v in os.environ.items() if k not in (KEY_ENV, TOKEN_ENV)}
    read_end, write_end = os.pipe()
    os.write(write_end, data)  # far below the pipe buffer: never blocks
    os.close(write_end)
    os.dup2(read_end, 0)
    os.close(read_end)
    argv = [sys.executable, "-m", "sandbox.gateway", "--until-signal"]
    os.execve(sys.executable, argv, env)


def main(argv: list[str] | None = None) -> int:
    """Dispatch `demo-script OUT` or `gateway --listen HOST:PORT`."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m runner.ops.compose_services", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("demo-script", help="write the demo model's script (JSON)")
    d.add_argument("out", type=Path)
    g = sub.add_parser("gateway", help="run the model gateway on TCP (config from the environment)")
    g.add_argument("--listen", default="0.0.0.0:8080", help="HOST:PORT inside the container")
    g.add_argument("--run-dir", type=Path, default=Path("/tmp/codex-gateway"))
    args = p.parse_args(argv)
    if args.cmd == "demo-script":
        args.out.write_text(json.dumps(compose_demo_script(), indent=1) + "\n", encoding="utf-8")
        return 0
    exec_gateway(args.listen, args.run_dir)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
