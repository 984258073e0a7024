"""``kalshi-insights sim`` (and ``python -m emulators.kalshi_sim``): run the simulator.

``--demo-account-out FILE`` writes ``{"key_id", "private_key_pem"}`` (mode 0600) for a
funded demo account. When FILE already holds such an account, the same key is registered
again, so credentials saved by an earlier run keep working after a restart.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from emulators.kalshi_sim.config import MAX_MARKETS, SimConfig

DEMO_BALANCE_DOLLARS = "10000"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=int, default=8765, help="port (default: 8765; 0 picks a free one)"
    )
    parser.add_argument(
        "--seed", type=int, default=1, help="seed: same seed, same exchange (default: 1)"
    )
    parser.add_argument(
        "--markets", type=int, default=300, help=f"markets to list, 1..{MAX_MARKETS} (default: 300)"
    )
    parser.add_argument(
        "--tick-interval",
        type=float,
        default=0.5,
        help="seconds between exchange ticks; 0 = manual clock, driven by POST /_sim/tick",
    )
    parser.add_argument(
        "--fill-rate",
        type=float,
        default=0.05,
        help="chance per tick that the simulator trades for each account (default: 0.05)",
    )
    parser.add_argument(
        "--demo-account-out", type=Path, default=None, help="write demo credentials here"
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help=(
            "keep the exchange's world here (simulator-world.pickle) and continue it on the "
            "next start: closed markets stay closed, volumes and times go on "
            "(default: a new world each start)"
        ),
    )
    parser.add_argument(
        "--faults",
        default=None,
        help=(
            "initial faults as JSON, e.g. '{\"rest_429_rate\": 0.1}' "
            "(change later: POST /_sim/faults)"
        ),
    )
    parser.add_argument(
        "--log-level", default="warning", help="uvicorn log level (default: warning)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kalshi-sim", description="Kalshi exchange simulator")
    add_arguments(parser)
    return parser


def config_from_args(args: Any) -> SimConfig:
    return SimConfig(
        seed=args.seed,
        n_markets=args.markets,
        tick_interval_s=args.tick_interval or None,
        account_fill_rate=args.fill_rate,
    )


def write_demo_account(path: Path, key_id: str, private_key_pem: str) -> None:
    """Credentials file, created 0600 from the start (never world-readable, not even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"key_id": key_id, "private_key_pem": private_key_pem}, handle)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def read_demo_account(path: Path) -> tuple[str, str] | None:
    try:
        data = json.loads(path.read_text())
        return str(data["key_id"]), str(data["private_key_pem"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def run(args: Any) -> int:
    import uvicorn

    from emulators.kalshi_sim.app import create_app
    from emulators.kalshi_sim.persist import load_world, world_path
    from emulators.kalshi_sim.runner import uvicorn_config
    from shared.kalshi.signing import KeyFormatError, load_private_key, public_key_pem

    try:
        config = config_from_args(args)
    except ValueError as exc:
        raise SystemExit(f"kalshi-insights sim: {exc}") from None
    world_file = world_path(args.state_dir) if args.state_dir is not None else None
    exchange = load_world(world_file, config) if world_file is not None else None
    if exchange is not None:
        before = exchange.now_ms
        exchange.resume(int(time.time() * 1_000_000))
        print(
            f"continuing the world in {world_file} (tick {exchange.tick_count}, clock moved "
            f"{(exchange.now_ms - before) / 1000:.0f} s to catch up)",
            flush=True,
        )
    app = create_app(config, exchange=exchange, world_file=world_file)
    state = app.state
    if args.faults:
        state.faults.update(json.loads(args.faults))
    if args.demo_account_out is not None:
        saved = read_demo_account(args.demo_account_out)
        account = None
        if saved is not None:
            key_id, pem = saved
            # A continued world already knows the account (balance, positions and all).
            account = state.exchange.accounts.by_key(key_id)
            if account is None:
                try:
                    public = public_key_pem(load_private_key(pem))
                    account, _ = state.create_account(DEMO_BALANCE_DOLLARS, public, key_id)
                except (KeyFormatError, ValueError):
                    account = None
        if account is None:
            account, pem_new = state.create_account(DEMO_BALANCE_DOLLARS)
            assert pem_new is not None
            write_demo_account(args.demo_account_out, account.key_id, pem_new)
        else:
            os.chmod(args.demo_account_out, 0o600)
        print(f"demo account {account.key_id} -> {args.demo_account_out}", flush=True)
    server_config = uvicorn_config(app, log_level=args.log_level)
    server_config.host = args.host
    server_config.port = args.port
    print(
        f"Kalshi simulator on http://{args.host}:{args.port}/trade-api/v2 "
        f"(ws://{args.host}:{args.port}/trade-api/ws/v2), seed {config.seed}, "
        f"{config.n_markets} markets",
        flush=True,
    )
    logging.getLogger("kalshi_sim").setLevel(logging.INFO)
    uvicorn.Server(server_config).run()
    return 0
