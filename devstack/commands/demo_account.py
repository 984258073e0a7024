"""``kalshi-insights demo-account``: one more funded account on the running stack's simulator.

Signing in needs a Kalshi API key; on the local stack the simulator is Kalshi. This makes a
fresh RSA key pair here, registers the public half with the simulator's admin API
(``POST /_sim/accounts``, as the test fixtures do) and prints what the sign-in form takes::

    {"key_id": "...", "private_key_pem": "<the key's PKCS#8 PEM>"}

on stdout (and nothing else there), so ``kalshi-insights demo-account > me.json`` is a
second user for trying the dashboard with two accounts. The private key exists only in that
output: the simulator never sees it. The stack is found through its state directory
(``ports.json``), like ``kalshi-insights backtest`` finds the database.
"""

from __future__ import annotations

import argparse
import json
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

NAME = "demo-account"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        NAME,
        help="create a funded account on the running stack's Kalshi simulator",
        description=(
            "Create another funded simulator account and print its key id and private key "
            "as JSON (the sign-in form's two fields)."
        ),
    )
    parser.add_argument(
        "--state-dir",
        default=".local",
        help="state directory of 'kalshi-insights up' (default: .local)",
    )
    parser.add_argument(
        "--balance", default="1000", help="starting cash in dollars (default: 1000)"
    )
    parser.set_defaults(handler=run)


def simulator_origin(state_dir: Path) -> str | None:
    """``http://127.0.0.1:PORT`` of the simulator the stack in ``state_dir`` runs, if any."""
    try:
        ports = json.loads((state_dir / "ports.json").read_text())
    except (OSError, ValueError):
        return None
    port = ports.get("simulator") if isinstance(ports, dict) else None
    return f"http://127.0.0.1:{port}" if isinstance(port, int) else None


def create_demo_account(origin: str, balance: Decimal) -> dict[str, str]:
    """A new account on the simulator at ``origin``: ``{"key_id", "private_key_pem"}``."""
    import httpx

    from emulators.kalshi_sim.config import ADMIN_PREFIX
    from shared.kalshi.signing import generate_private_key_pem, load_private_key, public_key_pem

    pem = generate_private_key_pem()
    response = httpx.post(
        f"{origin}{ADMIN_PREFIX}/accounts",
        json={
            "balance_dollars": str(balance),
            "public_key_pem": public_key_pem(load_private_key(pem)),
        },
        timeout=30.0,
    )
    response.raise_for_status()
    created: dict[str, Any] = response.json()
    return {"key_id": str(created["key_id"]), "private_key_pem": pem}


def run(args: Any) -> int:
    import httpx

    try:
        balance = Decimal(str(args.balance))
    except InvalidOperation:
        balance = Decimal("NaN")
    if not balance.is_finite() or balance < 0:
        print(
            f"kalshi-insights demo-account: --balance must be dollars, got {args.balance!r}",
            file=sys.stderr,
        )
        return 2
    state_dir = Path(args.state_dir)
    origin = simulator_origin(state_dir)
    if origin is None:
        print(
            f"kalshi-insights demo-account: no simulator recorded in {state_dir}/ports.json; "
            "start the stack first (kalshi-insights up), or pass its --state-dir",
            file=sys.stderr,
        )
        return 1
    try:
        account = create_demo_account(origin, balance)
    except httpx.HTTPError as error:
        print(
            f"kalshi-insights demo-account: the simulator at {origin} did not create the "
            f"account ({type(error).__name__}: {error}); is 'kalshi-insights up' running?",
            file=sys.stderr,
        )
        return 1
    print(json.dumps(account))
    return 0
