"""The gateway process: `python -m sandbox.gateway` reads its config (with the key) as one JSON line on stdin.

It makes itself non-dumpable before reading the key, prints one JSON "ready" line on stdout once it
listens, answers each further "status" line on stdin with one JSON status line on stdout, and serves
until stdin reaches EOF (the parent closed it or died) or SIGTERM.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path

PR_GET_DUMPABLE = 3
PR_SET_DUMPABLE = 4
STATUS_FILE = "gateway-status.json"


def make_undumpable() -> bool:
    """prctl(PR_SET_DUMPABLE, 0), then read it back: same-uid processes can no longer read our memory or environ."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
        return libc.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


class _RedactingFilter(logging.Filter):
    def __init__(self, redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:  # a traceback is text like any other: redacted, not appended raw
            message += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info = record.exc_text = None
        record.msg = self.redactor.text(message)
        record.args = ()
        return True


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run one gateway until told to stop."""
    undumpable = make_undumpable()
    import argparse

    parser = argparse.ArgumentParser(prog="python -m sandbox.gateway", description=__doc__)
    parser.add_argument(
        "--until-signal",
        action="store_true",
        help="serve until SIGTERM/SIGINT instead of until stdin closes (sidecar container mode)",
    )
    args = parser.parse_args(argv)
    from pydantic import ValidationError

    from sandbox.gateway.accounting import Accounting
    from sandbox.gateway.config import GatewayConfig
    from sandbox.gateway.redact import Redactor

    line = sys.stdin.buffer.readline()
    try:
        cfg = GatewayConfig.model_validate(json.loads(line))
    except (ValueError, ValidationError) as exc:
        # never echo the input: it holds the key
        fields = (
            sorted({".".join(map(str, e["loc"])) for e in exc.errors()})
            if isinstance(exc, ValidationError)
            else []
        )
        print(
            f"gateway: invalid configuration on stdin (fields: {', '.join(fields) or 'not JSON'})",
            file=sys.stderr,
        )
        return 2
    del line
    key = cfg.api_key.get_secret_value()
    redactor = Redactor(key)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RedactingFilter(redactor))
    handler.setFormatter(logging.Formatter("%(asctime)s gateway %(levelname)s %(message)s"))
    logging.getLogger("sandbox.gateway").addHandler(handler)
    logging.getLogger("sandbox.gateway").setLevel(logging.INFO)
    logging.getLogger("sandbox.gateway").propagate = False
    if not undumpable:
        logging.getLogger("sandbox.gateway").warning("could not make the gateway process non-dumpable")
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    acct = Accounting(cfg, cfg.run_dir / STATUS_FILE, redactor)
    return serve(cfg, acct, redactor, undumpable, until_signal=args.until_signal)


def serve(cfg, acct, redactor, undumpable: bool, *, until_signal: bool = False) -> int:
    """Listen on the Unix socket (and TCP when asked), report ready, and serve until stopped."""
    from sandbox.gateway.server import GatewayCore, GatewayHandler, TcpGatewayServer, UnixGatewayServer

    core = GatewayCore(cfg, acct, redactor)
    servers = []
    sock_dir = Path(cfg.socket_dir) if cfg.socket_dir else Path(tempfile.mkdtemp(prefix="cxgw-"))
    sock = sock_dir / "gateway.sock"
    sock.unlink(missing_ok=True)
    unix = UnixGatewayServer(str(sock), GatewayHandler)
    os.chmod(sock, 0o666)  # the container's uid must connect; the run token is the credential
    servers.append(unix)
    tcp_address = None
    if cfg.tcp_listen:
        host, _, port = cfg.tcp_listen.rpartition(":")

        class TcpHandler(GatewayHandler):
            disable_nagle_algorithm = True

        tcp = TcpGatewayServer((host or "127.0.0.1", int(port or 0)), TcpHandler)
        tcp_address = f"{tcp.server_address[0]}:{tcp.server_address[1]}"
        servers.append(tcp)
    for s in servers:
        s.core = core  # type: ignore[attr-defined]
        threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    acct.set(ready=True, socket_path=str(sock), tcp_address=tcp_address, undumpable=undumpable)
    print(json.dumps({"ready": True, "socket_path": str(sock), "tcp_address": tcp_address}), flush=True)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        while until_signal:
            signal.pause()
        # the control pipe: "status" answers one JSON line; EOF means the parent closed it or died
        for command in sys.stdin.buffer:
            if command.strip() == b"status":
                sys.stdout.write(acct.snapshot_json() + "\n")
                sys.stdout.flush()
    except KeyboardInterrupt:
        pass
    finally:
        for s in servers:
            s.shutdown()
            s.server_close()
        sock.unlink(missing_ok=True)
        if not cfg.socket_dir:
            sock_dir.rmdir()
        core.drain(timeout=2.0)
        if core.upstream is not None:
            core.upstream.close()
        acct.set(stopped=True)
        acct.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
