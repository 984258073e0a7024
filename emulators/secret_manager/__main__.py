"""``python -m emulators.secret_manager --port N --data-dir DIR``: serve until SIGTERM."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from emulators.secret_manager.server import serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="local Secret Manager emulator (gRPC)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--data-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    server = serve(args.data_dir, host=args.host, port=args.port)
    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    print(f"secret manager emulator listening on {args.host}:{args.port}", flush=True)
    stopped.wait()
    server.stop(grace=2).wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
