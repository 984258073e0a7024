"""Trading end to end, through the local gateway of a real ``kalshi-insights up``.

Everything below goes through the gateway as a browser's (cookie, Origin, CSRF token) or a
script's (API token) requests would, to the account function, which places the orders on
the stack's Kalshi simulator with the user's own key. Users are made with
``kalshi-insights demo-account``.

What it shows: sign in, turn trading on, place a resting order, see it listed, amend it,
cancel it; place a crossing order and see the fill (its fee the fee module's) and the
position; close the position; the user's ``order_audit`` rows match, request by request.
Refusals are each a clear 4xx JSON: trading off, over a limit, bad prices (0, 1, 0.005 on a
cent market, negative, not a number, a JSON number), an unknown ticker, another user's order
ids, a token without the trade scope, a Kalshi key without trading permission, a missing
CSRF token. And ``kalshi-insights orders place|list|cancel`` works against the same stack
with an API token.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from devstack.postgres import DEFAULT_DATABASE, LocalPostgres
from shared.domain.fees import rates_for, trade_fee_micro
from shared.domain.units import COUNT_SCALE, MICRO_PER_DOLLAR, PRICE_SCALE
from tests.integration.devstack.test_up import Launcher
from tests.live_stack import live_stack

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
ORDERS = "/api/v1/account/orders"


@dataclass
class Stack:
    origin: str
    state_dir: Path
    launcher: Launcher

    @property
    def ports(self) -> dict[str, int]:
        return dict(json.loads((self.state_dir / "ports.json").read_text()))

    @property
    def simulator(self) -> str:
        return f"http://127.0.0.1:{self.ports['simulator']}"

    def database(self) -> sa.Engine:
        pg = LocalPostgres.in_state_dir(self.state_dir, int(self.ports["postgres"]))
        return sa.create_engine(pg.url_for(DEFAULT_DATABASE), poolclass=NullPool)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with live_stack("ki-test-trading-") as (origin, state, launcher):
        yield Stack(origin, state, launcher)


def demo_account(stack: Stack) -> dict[str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "devstack.cli", "demo-account", "--state-dir", str(stack.state_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def read_only_account(stack: Stack) -> dict[str, str]:
    """A simulator key with the read scope only (Kalshi answers its order writes 403)."""
    from shared.kalshi.signing import generate_private_key_pem, load_private_key, public_key_pem

    pem = generate_private_key_pem()
    answer = httpx.post(
        f"{stack.simulator}/_sim/accounts",
        json={
            "balance_dollars": "100",
            "public_key_pem": public_key_pem(load_private_key(pem)),
            "scopes": ["read"],
        },
        timeout=30,
    )
    assert answer.status_code in (200, 201), answer.text
    return {"key_id": str(answer.json()["key_id"]), "private_key_pem": pem}


class Browser:
    """A browser on the dashboard's origin: cookie jar, Origin and the CSRF header."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.http = httpx.Client(base_url=stack.origin, timeout=60)
        self.user_id = ""

    def sign_in(self, account: dict[str, str]) -> None:
        answer = self.http.post(
            "/api/v1/account/authenticate", json=account, headers={"Origin": self.stack.origin}
        )
        assert answer.status_code == 200, answer.text
        self.user_id = answer.json()["user"]["id"]

    def changing(self) -> dict[str, str]:
        return {"Origin": self.stack.origin, "X-CSRF-Token": self.http.cookies["ki_csrf"]}

    def send(self, method: str, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        headers = self.changing() if method != "GET" else {}
        return self.http.request(method, path, json=body, headers=headers, **kwargs)

    def settings(self, **fields: Any) -> None:
        answer = self.send("PUT", "/api/v1/account/settings", fields)
        assert answer.status_code == 200, answer.text


def json_error(answer: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert answer.status_code == status, (answer.status_code, answer.text)
    assert answer.headers["content-type"].startswith("application/json"), answer.text
    body: dict[str, Any] = answer.json()
    assert set(body) == {"error", "message"} and body["message"], body
    if code is not None:
        assert body["error"] == code, body
    return body


def kalshi(stack: Stack, path: str, **params: Any) -> dict[str, Any]:
    answer = httpx.get(f"{stack.simulator}/trade-api/v2{path}", params=params, timeout=30)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def cent_market(stack: Stack) -> dict[str, Any]:
    """An open cent-grid market with a two-sided book well inside (0.10, 0.90)."""
    markets = kalshi(stack, "/markets", status="open", limit=1000)["markets"]
    for market in markets:
        ranges = market.get("price_ranges") or []
        bid, ask = Decimal(market["yes_bid_dollars"]), Decimal(market["yes_ask_dollars"])
        if (
            [r["step"] for r in ranges] == ["0.0100"]
            and Decimal("0.15") <= bid < ask <= Decimal("0.85")
            and Decimal(market.get("yes_bid_size_fp") or 0) >= 5
            and Decimal(market.get("yes_ask_size_fp") or 0) >= 5
        ):
            return dict(market)
    raise AssertionError("no open cent market with a two-sided book in the simulator")


def taker_fee(stack: Stack, ticker: str, count: Decimal, yes_price: Decimal) -> Decimal:
    """The fee module's trade fee for this fill, from the market's series fee structure."""
    market = kalshi(stack, f"/markets/{ticker}")["market"]
    event = kalshi(stack, f"/events/{market['event_ticker']}")["event"]
    series = kalshi(stack, f"/series/{event['series_ticker']}")["series"]
    fee_type = event.get("fee_type_override") or series.get("fee_type") or "quadratic"
    multiplier = event.get("fee_multiplier_override") or series.get("fee_multiplier") or "1"
    taker, _ = rates_for(fee_type, multiplier)
    micro = trade_fee_micro(
        int(count * COUNT_SCALE), int(yes_price * PRICE_SCALE), taker, fee_type=fee_type
    )
    return Decimal(micro) / MICRO_PER_DOLLAR


def audit_rows(stack: Stack, user_id: str) -> list[dict[str, Any]]:
    engine = stack.database()
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT action, status, http_status, order_id, client_order_id, ticker, "
                    "request, response, error_code, answered_at FROM order_audit "
                    "WHERE user_id = :u ORDER BY id"
                ),
                {"u": user_id},
            )
            return [dict(r._mapping) for r in rows]
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def trader(stack: Stack) -> Browser:
    browser = Browser(stack)
    browser.sign_in(demo_account(stack))
    return browser


@pytest.fixture(scope="module")
def market(stack: Stack) -> dict[str, Any]:
    return cent_market(stack)


def test_place_list_amend_cancel_cross_close_and_the_audit(
    stack: Stack, trader: Browser, market: dict[str, Any]
) -> None:
    ticker = market["ticker"]
    resting = {"ticker": ticker, "side": "yes", "action": "buy", "count": "2", "price": "0.02"}

    # Off by default: refused, and the refusal is audited.
    json_error(trader.send("POST", ORDERS, resting), 403, "trading_disabled")
    trader.settings(trading_enabled=True, max_order_contracts="20", max_order_dollars="25.00")
    stored = trader.http.get("/api/v1/account/settings").json()
    assert stored["trading_enabled"] is True and stored["max_order_contracts"] == "20.00"

    # A resting order, listed, amended, canceled.
    placed = trader.send("POST", ORDERS, resting)
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert order["status"] == "resting" and order["remaining_count"] == "2.00"
    assert (order["side"], order["action"], order["price"]) == ("yes", "buy", "0.0200")
    assert order["book_side"] == "bid" and order["self_trade_prevention_type"] == "taker_at_cross"
    listed = trader.http.get(ORDERS, params={"status": "resting"}).json()["orders"]
    assert [o["id"] for o in listed] == [order["id"]]
    assert listed[0]["price"] == "0.0200" and listed[0]["side"] == "yes"

    amended = trader.send("PATCH", f"{ORDERS}/{order['id']}", {"price": "0.03", "count": "3"})
    assert amended.status_code == 200, amended.text
    assert amended.json()["price"] == "0.0300" and amended.json()["remaining_count"] == "3.00"
    amended_id = amended.json()["id"]

    canceled = trader.send("DELETE", f"{ORDERS}/{amended_id}")
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["status"] == "canceled"
    json_error(trader.send("DELETE", f"{ORDERS}/{amended_id}"), 404, "order_not_found")
    assert trader.http.get(ORDERS, params={"status": "resting"}).json()["orders"] == []

    # A crossing order: buy NO (an ask on the YES book) at a price that takes the bid.
    no_price = (Decimal(1) - Decimal(market["yes_bid_dollars"]) + Decimal("0.05")).quantize(
        Decimal("0.01")
    )
    cross = {
        "ticker": ticker,
        "side": "no",
        "action": "buy",
        "count": "2",
        "price": str(no_price),
        "time_in_force": "immediate_or_cancel",
    }
    taken = trader.send("POST", ORDERS, cross)
    assert taken.status_code == 201, taken.text
    crossed = taken.json()
    assert crossed["book_side"] == "ask" and crossed["side"] == "no"
    assert crossed["filled_count"] == "2.00", crossed
    detail = trader.http.get(f"{ORDERS}/{crossed['id']}").json()
    assert detail["status"] == "executed" and detail["side"] == "no"
    fills = detail["fills"]
    assert sum(Decimal(f["count"]) for f in fills) == Decimal(2)
    for fill in fills:
        assert fill["side"] == "no" and fill["action"] == "buy" and fill["is_taker"] is True
        assert Decimal(fill["price"]) <= no_price
        expected = taker_fee(stack, ticker, Decimal(fill["count"]), Decimal(fill["yes_price"]))
        assert Decimal(fill["fee"]) == expected, (fill, expected)

    positions = trader.http.get("/api/v1/account/positions").json()["positions"]
    held = [p for p in positions if p["ticker"] == ticker]
    assert held and held[0]["side"] == "no" and Decimal(held[0]["contracts"]) == 2, positions

    # Close it: sell the NO contracts no worse than 0.01.
    closed = trader.send(
        "POST", f"/api/v1/account/positions/{ticker}/close", {"worst_price": "0.01"}
    )
    assert closed.status_code == 201, closed.text
    assert closed.json()["side"] == "no" and closed.json()["action"] == "sell"
    assert closed.json()["filled_count"] == "2.00", closed.json()
    positions = trader.http.get("/api/v1/account/positions").json()["positions"]
    assert all(Decimal(p["contracts"]) == 0 for p in positions if p["ticker"] == ticker), positions
    json_error(
        trader.send("POST", f"/api/v1/account/positions/{ticker}/close", {"worst_price": "0.01"}),
        409,
        "no_position",
    )

    # The audit, request by request.
    rows = audit_rows(stack, trader.user_id)
    assert [(r["action"], r["status"]) for r in rows] == [
        ("place", "rejected"),
        ("place", "accepted"),
        ("amend", "accepted"),
        ("cancel", "accepted"),
        ("cancel", "rejected"),
        ("place", "accepted"),
        ("close", "accepted"),
    ]
    assert rows[0]["error_code"] == "trading_disabled" and rows[0]["http_status"] == 403
    assert rows[1]["order_id"] == order["id"]
    assert rows[1]["client_order_id"] == order["client_order_id"]
    assert rows[1]["request"]["kalshi"]["side"] == "bid"
    assert rows[1]["request"]["kalshi"]["price"] == "0.0200"
    assert rows[1]["response"]["order_id"] == order["id"]
    assert rows[2]["order_id"] == amended_id and rows[2]["request"]["remaining_count"] == "3.00"
    assert rows[3]["order_id"] == amended_id and rows[3]["response"]["order_id"] == amended_id
    assert rows[4]["error_code"] == "not_found" and rows[4]["http_status"] == 404
    assert rows[5]["order_id"] == crossed["id"] and rows[5]["request"]["side"] == "no"
    assert rows[5]["request"]["kalshi"]["side"] == "ask"
    assert rows[5]["response"]["fill_count"] == "2.00"
    assert rows[6]["order_id"] == closed.json()["id"] and rows[6]["ticker"] == ticker
    assert all(r["answered_at"] is not None for r in rows)


@pytest.mark.parametrize(
    ("price", "code"),
    [
        ("0", "invalid_price"),
        ("1", "invalid_price"),
        ("0.005", "invalid_price"),  # off the cent grid
        ("-0.5", "invalid_price"),
        ("abc", "invalid_order"),
        (0.45, "invalid_order"),  # a JSON number: money travels as strings
        ("", "invalid_order"),
    ],
)
def test_bad_prices_are_400(trader: Browser, market: dict[str, Any], price: Any, code: str) -> None:
    trader.settings(trading_enabled=True)
    body = {
        "ticker": market["ticker"],
        "side": "yes",
        "action": "buy",
        "count": "1",
        "price": price,
    }
    error = json_error(trader.send("POST", ORDERS, body), 400, code)
    assert "price" in error["message"]


def test_limits_unknown_tickers_and_bad_bodies(trader: Browser, market: dict[str, Any]) -> None:
    trader.settings(trading_enabled=True, max_order_contracts="5", max_order_dollars="1.00")
    base = {"ticker": market["ticker"], "side": "yes", "action": "buy"}
    over_count = json_error(
        trader.send("POST", ORDERS, {**base, "count": "6", "price": "0.01"}),
        403,
        "order_limit_exceeded",
    )
    assert "5.00" in over_count["message"]
    over_dollars = json_error(
        trader.send("POST", ORDERS, {**base, "count": "5", "price": "0.30"}),
        403,
        "order_limit_exceeded",
    )
    assert "$1.50" in over_dollars["message"]
    # A sell of YES at 0.99 with nothing held risks 0.01 a contract: it fits $1.
    fits = trader.send("POST", ORDERS, {**base, "action": "sell", "count": "1", "price": "0.99"})
    assert fits.status_code == 201, fits.text
    trader.send("DELETE", ORDERS)
    json_error(
        trader.send(
            "POST", ORDERS, {**base, "ticker": "KXNOSUCH-26JAN01-X", "count": "1", "price": "0.5"}
        ),
        404,
        "unknown_market",
    )
    json_error(
        trader.send("POST", ORDERS, {**base, "count": "1", "price": "0.5", "leverage": 9}), 400
    )
    json_error(trader.send("POST", ORDERS, {**base, "count": "0", "price": "0.5"}), 400)
    json_error(trader.send("POST", ORDERS, {**base, "count": "1.234", "price": "0.5"}), 400)
    json_error(
        trader.send("POST", ORDERS, {**base, "side": "maybe", "count": "1", "price": "0.5"}), 400
    )
    json_error(trader.send("POST", ORDERS, [1, 2]), 400)
    json_error(trader.send("PUT", "/api/v1/account/settings", {"max_order_dollars": 5}), 400)
    # A state change without the CSRF token is refused before anything else.
    no_csrf = trader.http.post(ORDERS, json={**base, "count": "1", "price": "0.5"},
                               headers={"Origin": trader.stack.origin})  # fmt: skip
    json_error(no_csrf, 403)


def test_other_users_orders_are_404(stack: Stack, trader: Browser, market: dict[str, Any]) -> None:
    other = Browser(stack)
    other.sign_in(demo_account(stack))
    other.settings(trading_enabled=True)
    theirs = other.send(
        "POST",
        ORDERS,
        {"ticker": market["ticker"], "side": "yes", "action": "buy", "count": "1", "price": "0.01"},
    )
    assert theirs.status_code == 201, theirs.text
    order_id = theirs.json()["id"]
    trader.settings(trading_enabled=True)
    json_error(trader.http.get(f"{ORDERS}/{order_id}"), 404, "order_not_found")
    json_error(trader.send("DELETE", f"{ORDERS}/{order_id}"), 404, "order_not_found")
    json_error(trader.send("PATCH", f"{ORDERS}/{order_id}", {"price": "0.02"}), 404)
    json_error(trader.http.get(f"{ORDERS}/not-an-id!"), 404)
    assert order_id not in [o["id"] for o in trader.http.get(ORDERS).json()["orders"]]
    # The kill switch cancels only the caller's own orders.
    trader.send("DELETE", ORDERS)
    mine = other.http.get(f"{ORDERS}/{order_id}").json()
    assert mine["status"] == "resting"
    killed = other.send("DELETE", ORDERS)
    assert [c["id"] for c in killed.json()["canceled"]] == [order_id]


def test_scopes_and_a_key_that_cannot_trade(
    stack: Stack, trader: Browser, market: dict[str, Any]
) -> None:
    ticket = {
        "ticker": market["ticker"],
        "side": "yes",
        "action": "buy",
        "count": "1",
        "price": "0.01",
    }
    trader.settings(trading_enabled=True)
    tokens = {}
    for scope in ("read", "trade"):
        made = trader.send(
            "POST", "/api/v1/account/tokens", {"name": f"cli-{scope}", "scope": scope}
        )
        assert made.status_code == 201, made.text
        tokens[scope] = made.json()["token"]
    script = httpx.Client(base_url=stack.origin, timeout=60)
    as_reader = {"Authorization": f"Bearer {tokens['read']}"}
    json_error(script.post(ORDERS, json=ticket, headers=as_reader), 403, "insufficient_scope")
    assert script.get(ORDERS, headers=as_reader).status_code == 200
    as_trader = {"Authorization": f"Bearer {tokens['trade']}"}
    placed = script.post(ORDERS, json=ticket, headers=as_trader)
    assert placed.status_code == 201, placed.text
    assert script.delete(f"{ORDERS}/{placed.json()['id']}", headers=as_trader).status_code == 200

    read_only = Browser(stack)
    read_only.sign_in(read_only_account(stack))
    read_only.settings(trading_enabled=True)
    error = json_error(read_only.send("POST", ORDERS, ticket), 403, "kalshi_trading_not_permitted")
    assert "trading permission" in error["message"]
    # The key still reads: refusing an order does not revoke it.
    assert read_only.http.get("/api/v1/account/portfolio").status_code == 200


def test_the_orders_command_places_lists_and_cancels(
    stack: Stack, trader: Browser, market: dict[str, Any], tmp_path: Path
) -> None:
    trader.settings(trading_enabled=True)
    made = trader.send("POST", "/api/v1/account/tokens", {"name": "orders-cli", "scope": "trade"})
    token_file = tmp_path / "token"
    token_file.write_text(made.json()["token"])
    os.chmod(token_file, 0o600)

    def cli(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "devstack.cli", "orders", *args,
             "--state-dir", str(stack.state_dir), "--token-file", str(token_file)],
            capture_output=True, text=True, timeout=60, cwd=ROOT,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert made.json()["token"] not in done.stdout + done.stderr
        return done.stdout

    out = cli(
        "place", market["ticker"], "--side", "yes", "--count", "1", "--price", "0.01", "--json"
    )
    order = json.loads(out)
    assert order["status"] == "resting" and order["fills"] == []
    listed = cli("list", "--status", "resting")
    assert order["id"] in listed and "resting" in listed
    assert "canceled" in cli("cancel", order["id"])
    takes_the_bid = Decimal(1) - Decimal(market["yes_bid_dollars"]) + Decimal("0.05")
    crossing = cli(
        "place", market["ticker"], "--side", "no", "--count", "1", "--tif", "immediate_or_cancel",
        "--price", str(takes_the_bid.quantize(Decimal("0.01"))),
    )  # fmt: skip
    assert "executed" in crossing and "fill " in crossing and "taker" in crossing
    # Bad input is one line on stderr and exit 1, never a traceback.
    done = subprocess.run(
        [sys.executable, "-m", "devstack.cli", "orders", "place", market["ticker"], "--side", "yes",
         "--count", "1", "--price", "0.005", "--state-dir", str(stack.state_dir),
         "--token-file", str(token_file)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 1 and "invalid_price" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_orders_command_signs_in_with_a_key_file(
    stack: Stack, market: dict[str, Any], tmp_path: Path
) -> None:
    key_file = tmp_path / "key.json"
    key_file.write_text(json.dumps(demo_account(stack)))
    os.chmod(key_file, 0o600)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "devstack.cli", "orders", *args,
             "--state-dir", str(stack.state_dir), "--key-file", str(key_file)],
            capture_output=True, text=True, timeout=60, cwd=ROOT,
        )  # fmt: skip

    listed = cli("list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.strip() == "no orders"
    # A state change passes the session's Origin and CSRF checks and meets the user's switch.
    placed = cli("place", market["ticker"], "--side", "yes", "--count", "1", "--price", "0.01")
    assert placed.returncode == 1 and "403 trading_disabled" in placed.stderr
    assert "PRIVATE KEY" not in placed.stdout + placed.stderr
