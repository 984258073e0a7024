"""``kalshi-insights orders --kalshi-url``: straight to an exchange with a key file, no stack
(here the simulator), with the same ticket translation as the API."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from devstack import cli

pytestmark = pytest.mark.integration


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    args = cli.build_parser().parse_args(["orders", *argv])
    code = args.handler(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_place_list_and_cancel_straight_to_the_exchange(
    simulator: Any, sim_account: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from shared.kalshi.client import KalshiClient

    key_file = tmp_path / "key.json"
    key_file.write_text(
        json.dumps({"key_id": sim_account.key_id, "private_key_pem": sim_account.private_key_pem})
    )
    base = simulator.base_url
    with KalshiClient(base_url=base) as public:
        market = next(
            m
            for m in public.get_markets(status="open", limit=200).markets
            if [r.step for r in m.price_ranges] == [Decimal("0.01")]
        )
    direct = ("--kalshi-url", base, "--key-file", str(key_file))

    code, out, err = _run(
        capsys, "place", market.ticker, "--side", "no", "--action", "sell", "--count", "2",
        "--price", "0.99", "--json", *direct,
    )  # fmt: skip
    assert code == 0, err
    order = json.loads(out)
    # Selling NO at 0.99 is a bid for YES at 0.01 on the V2 book: it rests.
    assert (order["side"], order["action"], order["price"]) == ("no", "sell", "0.9900")
    assert order["book_side"] == "bid" and order["yes_price"] == "0.0100"
    assert order["status"] == "resting" and order["fills"] == []
    assert sim_account.private_key_pem.splitlines()[1] not in out + err

    code, out, _ = _run(capsys, "list", "--status", "resting", *direct)
    assert code == 0 and order["id"] in out
    code, out, _ = _run(capsys, "cancel", order["id"], *direct)
    assert code == 0 and "canceled" in out

    code, _, err = _run(
        capsys, "place", market.ticker, "--side", "yes", "--count", "1", "--price", "1.5", *direct
    )
    assert code == 1 and "price" in err and "Traceback" not in err


def test_without_a_stack_the_command_says_how_to_start_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(capsys, "list", "--state-dir", str(tmp_path), "--token-file", "x")
    assert code == 1 and "kalshi-insights up" in err
