"""`python -m sandbox.scripted_model --script FILE --host H --port N`: serve a script standalone."""

from __future__ import annotations

import argparse
import signal
import sys

from sandbox.scripted_model.server import ScriptedModelServer


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Parse flags and serve until interrupted."""
    p = argparse.ArgumentParser(
        prog="python -m sandbox.scripted_model", description="Offline scripted model."
    )
    p.add_argument("--script", required=True, help="YAML or JSON script file")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--api-key", default=None, help="require `Authorization: Bearer KEY`")
    args = p.parse_args(argv)
    import yaml

    try:
        server = ScriptedModelServer(args.script, host=args.host, port=args.port, api_key=args.api_key)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        print(f"scripted model: bad script {args.script}: {exc}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.bind()
    except OSError as exc:
        print(f"scripted model: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    print(f"scripted model (offline demo model) listening on {server.base_url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
