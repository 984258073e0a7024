"""Order entry on the simulator, over loopback, against Kalshi's recorded order exchanges.

Every recorded exchange (create maker, create taker IOC, cancel, post-only cross, STP
self-cross, insufficient balance, invalid price structure, numeric fields, duplicate and
reused ``client_order_id``, cancel of unknown/canceled/executed orders) must give the
recorded status and body shape (error bodies: the same code, message and details; Kalshi
dropped the ``service`` key after the recording, 2026-08-06). What was never recorded
(amend, decrease, batches, fill-or-kill, ``maker`` STP, queue position, a key without the
trade scope) follows the V2 pages of the spec. Fees and balances follow the fee module.

One simulator per module (manual clock, small world): orders change books, and the
session-wide simulator's books are other tests' ground truth.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from emulators.kalshi_sim.config import SimConfig
from emulators.kalshi_sim.runner import SimulatorServer
from shared.domain.fees import TAKER_RATE, FeeAccumulator, trade_fee_micro
from shared.kalshi.signing import KalshiSigner

pytestmark = pytest.mark.integration

RECORDED = Path(__file__).resolve().parents[3] / "fixtures" / "kalshi_recorded"
PREFIX = "/trade-api/v2"
CREATE = "/portfolio/events/orders"


def recorded(name: str) -> Any:
    return json.loads((RECORDED / f"{name}.json").read_text())


def recorded_error(name: str) -> dict[str, Any]:
    body = recorded(name)
    if "error" in body:
        body["error"].pop("service", None)
    return dict(body)


def keys_and_types(body: dict[str, Any]) -> dict[str, str]:
    return {k: type(v).__name__ for k, v in body.items()}


class Trader:
    """One signed account on the module's simulator."""

    def __init__(self, sim: SimulatorServer, client: httpx.Client, **account: Any) -> None:
        key_id, pem = sim.create_account(**account)
        self.precision = 10_000 if account.get("balance_precision") == "0.01" else 100
        self.key_id = key_id
        self.signer = KalshiSigner.from_pem(key_id, pem)
        self.sim = sim
        self.http = client

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> httpx.Response:
        headers = self.signer.headers(method, PREFIX + path)
        content = None if body is None else json.dumps(body)
        return self.http.request(
            method, self.sim.base_url + path, headers=headers, content=content, params=params
        )

    def order(self, ticker: str, side: str, price: str, count: str = "1.00", **extra: Any) -> Any:
        body = {
            "ticker": ticker,
            "side": side,
            "count": count,
            "price": price,
            "time_in_force": "good_till_canceled",
            "self_trade_prevention_type": "taker_at_cross",
            **extra,
        }
        return self.call("POST", CREATE, body)

    def get_order(self, order_id: str) -> dict[str, Any]:
        response = self.call("GET", f"/portfolio/orders/{order_id}")
        assert response.status_code == 200, response.text
        return dict(response.json()["order"])

    def balance_micro(self) -> int:
        dollars = Decimal(self.call("GET", "/portfolio/balance").json()["balance_dollars"])
        return int(dollars * 1_000_000)


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorServer]:
    config = SimConfig(seed=20261128, n_markets=60, tick_interval_s=None, account_fill_rate=0)
    with SimulatorServer(config) as server:
        server.advance(5)
        yield server


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def cent_markets(sim: SimulatorServer, http: httpx.Client) -> list[dict[str, Any]]:
    markets = http.get(sim.base_url + "/markets", params={"status": "open", "limit": 100})
    return [
        mk
        for mk in markets.json()["markets"]
        if mk["status"] == "active"
        and mk["price_level_structure"] == "linear_cent"
        and Decimal("0.10") < Decimal(mk["yes_bid_dollars"])
        and Decimal(mk["yes_ask_dollars"]) < Decimal("0.90")
    ]


_NEXT_MARKET = itertools.count()


@pytest.fixture
def market(sim: SimulatorServer, http: httpx.Client) -> Any:
    """A two-sided cent market of its own for each test (so books never interfere)."""
    markets = cent_markets(sim, http)
    assert len(markets) >= 12
    return markets[next(_NEXT_MARKET) % len(markets)]


def book(sim: SimulatorServer, http: httpx.Client, ticker: str) -> dict[str, Any]:
    return dict(http.get(f"{sim.base_url}/markets/{ticker}/orderbook").json()["orderbook_fp"])


def best_ask(sim: SimulatorServer, http: httpx.Client, ticker: str) -> tuple[Decimal, Decimal]:
    """(YES ask price, size) = 1 - best NO bid."""
    price, size = book(sim, http, ticker)["no_dollars"][-1]
    return Decimal(1) - Decimal(price), Decimal(size)


def best_bid(sim: SimulatorServer, http: httpx.Client, ticker: str) -> tuple[Decimal, Decimal]:
    price, size = book(sim, http, ticker)["yes_dollars"][-1]
    return Decimal(price), Decimal(size)


# ---------------------------------------------------------------- the recorded exchanges


def test_maker_create_duplicate_cancel_and_reuse_as_recorded(
    sim: SimulatorServer, http: httpx.Client, market: Any
) -> None:
    trader = Trader(sim, http)
    ticker = market["ticker"]
    created = trader.order(ticker, "bid", "0.0100", client_order_id="maker-1", post_only=False)
    assert created.status_code == 201
    assert keys_and_types(created.json()) == keys_and_types(recorded("orders__create_v2_maker"))
    body = created.json()
    assert (body["fill_count"], body["remaining_count"]) == ("0.00", "1.00")
    order = trader.get_order(body["order_id"])
    assert keys_and_types(order) == keys_and_types(recorded("orders__get_after_create")["order"])
    assert order["status"] == "resting" and order["yes_price_dollars"] == "0.0100"
    assert (order["book_side"], order["outcome_side"]) == ("bid", "yes")

    duplicate = trader.order(ticker, "bid", "0.0100", client_order_id="maker-1")
    assert duplicate.status_code == 409
    assert duplicate.json() == recorded_error("orders__duplicate_client_order_id")

    cancel = trader.call("DELETE", f"{CREATE}/{body['order_id']}")
    assert cancel.status_code == 200
    assert keys_and_types(cancel.json()) == keys_and_types(recorded("orders__cancel_v2"))
    assert cancel.json()["reduced_by"] == "1.00"
    assert trader.get_order(body["order_id"])["status"] == "canceled"

    again = trader.call("DELETE", f"{CREATE}/{body['order_id']}")
    assert again.status_code == 404
    assert again.json() == recorded_error("orders__cancel_already_canceled")
    reuse = trader.order(ticker, "bid", "0.0100", client_order_id="maker-1")
    assert reuse.status_code == 409
    assert reuse.json() == recorded_error("orders__reuse_canceled_client_id")
    unknown = trader.call("DELETE", f"{CREATE}/00000000-0000-0000-0000-000000000000")
    assert unknown.status_code == 404
    assert unknown.json() == recorded_error("orders__cancel_unknown_id")


def test_taker_ioc_fills_with_the_fee_modules_fee(
    sim: SimulatorServer, http: httpx.Client, market: Any
) -> None:
    trader = Trader(sim, http)
    ticker = market["ticker"]
    ask, _size = best_ask(sim, http, ticker)
    before = trader.balance_micro()
    taker = trader.order(ticker, "bid", "0.9900", time_in_force="immediate_or_cancel")
    assert taker.status_code == 201
    body = taker.json()
    assert keys_and_types(body) == keys_and_types(recorded("orders__create_v2_taker_ioc"))
    assert (body["fill_count"], body["remaining_count"]) == ("1.00", "0.00")
    assert Decimal(body["average_fill_price"]) == ask

    fee = trade_fee_micro(100, int(ask * 10_000), TAKER_RATE)
    assert Decimal(body["average_fee_paid"]) == Decimal(fee) / 1_000_000

    fills = trader.call("GET", "/portfolio/fills", ticker=ticker).json()["fills"]
    assert len(fills) == 1
    fill = fills[0]
    # the recorded fields, plus exchange_index that the current spec requires
    assert set(fill) == set(recorded("fills__after_taker")["fills"][0]) | {"exchange_index"}
    assert Decimal(fill["fee_cost"]) == Decimal(fee) / 1_000_000
    assert fill["is_taker"] is True and fill["order_id"] == body["order_id"]

    order = trader.get_order(body["order_id"])
    listed = recorded("portfolio__orders_list")["orders"][0]
    assert keys_and_types(order) == keys_and_types(listed)
    assert order["status"] == "executed"
    assert Decimal(order["taker_fees_dollars"]) == Decimal(fee) / 1_000_000

    # Balance: cost plus the trade fee, exactly (the default account keeps $0.0001, as the
    # recorded demo balance 98.0186 shows: no rounding fee).
    assert trader.balance_micro() - before == -int(ask * 1_000_000) - fee

    executed = trader.call("DELETE", f"{CREATE}/{body['order_id']}")
    assert executed.status_code == 404
    assert executed.json() == recorded_error("orders__cancel_executed")


def test_a_member_account_pays_the_rounding_fee_and_stays_on_whole_cents(
    sim: SimulatorServer, http: httpx.Client, market: Any
) -> None:
    trader = Trader(sim, http, balance_precision="0.01")
    ticker = market["ticker"]
    ask, _size = best_ask(sim, http, ticker)
    before = trader.balance_micro()
    body = trader.order(ticker, "bid", "0.9900", time_in_force="immediate_or_cancel").json()
    assert body["fill_count"] == "1.00"
    fee = trade_fee_micro(100, int(ask * 10_000), TAKER_RATE)
    # -(price + trade fee) floored to the cent: the rounding fee takes the rest of the cent
    charge = FeeAccumulator(10_000).charge(-int(ask * 1_000_000), fee)
    assert charge.rounding_fee > 0
    assert trader.balance_micro() - before == charge.balance_delta
    assert (trader.balance_micro() - before) % 10_000 == 0
    fill = trader.call("GET", "/portfolio/fills").json()["fills"][0]
    assert Decimal(fill["fee_cost"]) == Decimal(fee) / 1_000_000  # the trade fee only
    position = trader.call("GET", "/portfolio/positions").json()["market_positions"][0]
    assert Decimal(position["fees_paid_dollars"]) == Decimal(fee) / 1_000_000


def test_refusals_as_recorded(sim: SimulatorServer, http: httpx.Client, market: Any) -> None:
    trader = Trader(sim, http, balance_dollars=100)
    ticker = market["ticker"]
    cross = trader.order(ticker, "bid", "0.9900", post_only=True)
    assert cross.status_code == 400
    assert cross.json() == recorded_error("orders__post_only_cross")

    broke = trader.order(ticker, "bid", "0.9900", count="10099.00")
    assert broke.status_code == 400
    assert broke.json() == recorded_error("orders__insufficient_balance")

    for price in ("0.5150", "0", "1", "0.005", "1.0000"):
        off = trader.order(ticker, "bid", price, post_only=True)
        assert off.status_code == 400, price
        assert off.json() == recorded_error("orders__invalid_price_structure"), price

    numeric = trader.call(
        "POST",
        CREATE,
        {
            "ticker": ticker,
            "side": "bid",
            "count": 1,
            "price": 0.01,
            "time_in_force": "good_till_canceled",
            "self_trade_prevention_type": "taker_at_cross",
        },
    )
    assert numeric.status_code == 400
    assert numeric.json() == recorded("orders__numeric_field_types")

    for bad in ("-1", "abc", "1.005", ""):
        response = trader.order(ticker, "bid", "0.5000", count=bad)
        assert response.status_code == 400, bad
        assert response.json()["code"] == "bad_request"
    good = {
        "ticker": ticker,
        "side": "bid",
        "count": "1.00",
        "price": "0.5000",
        "time_in_force": "good_till_canceled",
        "self_trade_prevention_type": "taker_at_cross",
    }
    for field, value in (("side", "buy"), ("time_in_force", "gtc"), ("ticker", "")):
        response = trader.call("POST", CREATE, {**good, field: value})
        assert response.status_code == 400, field
        assert response.json()["code"] == "bad_request"
    unknown = trader.order("NO-SUCH-MARKET", "bid", "0.5000")
    assert unknown.status_code == 404
    # nothing of the above left an order behind
    assert trader.call("GET", "/portfolio/orders").json()["orders"] == []


def test_self_trade_prevention_taker_at_cross_as_recorded(
    sim: SimulatorServer, http: httpx.Client, market: Any
) -> None:
    trader = Trader(sim, http)
    ticker = market["ticker"]
    bid, _ = best_bid(sim, http, ticker)
    top = f"{bid + Decimal('0.01'):.4f}"
    setup = trader.order(ticker, "bid", top, post_only=True)
    assert setup.status_code == 201
    assert keys_and_types(setup.json()) == keys_and_types(recorded("orders__stp_setup"))
    resting_id = setup.json()["order_id"]

    cross = trader.order(ticker, "ask", top, time_in_force="immediate_or_cancel")
    assert cross.status_code == 201
    assert keys_and_types(cross.json()) == keys_and_types(recorded("orders__stp_self_cross"))
    assert (cross.json()["fill_count"], cross.json()["remaining_count"]) == ("0.00", "0.00")
    after = trader.get_order(resting_id)
    assert keys_and_types(after) == keys_and_types(recorded("orders__stp_resting_after")["order"])
    assert (after["status"], after["remaining_count_fp"]) == ("resting", "1.00")
    assert trader.get_order(cross.json()["order_id"])["status"] == "canceled"
    assert trader.call("GET", "/portfolio/fills").json()["fills"] == []


def test_self_trade_prevention_maker_cancels_the_resting_order_and_matches_on(
    sim: SimulatorServer, http: httpx.Client, market: Any
) -> None:
    trader = Trader(sim, http)
    ticker = market["ticker"]
    bid, crowd = best_bid(sim, http, ticker)
    top = f"{bid + Decimal('0.01'):.4f}"
    resting_id = trader.order(ticker, "bid", top, post_only=True).json()["order_id"]
    # Sell 2 down to the old best bid: our own order goes, then the crowd at `bid` fills.
    cross = trader.order(
        ticker,
        "ask",
        f"{bid:.4f}",
        count="2.00",
        time_in_force="immediate_or_cancel",
        self_trade_prevention_type="maker",
    )
    assert cross.status_code == 201
    filled = min(Decimal(2), crowd)
    assert Decimal(cross.json()["fill_count"]) == filled
    assert Decimal(cross.json()["average_fill_price"]) == bid
    assert trader.get_order(resting_id)["status"] == "canceled"


# ---------------------------------------------------------------- what the spec decides


def test_amend_decrease_and_queue_position(
    sim: SimulatorServer, http: httpx.Client, market: Any
) -> None:
    trader = Trader(sim, http)
    ticker = market["ticker"]
    bid, crowd = best_bid(sim, http, ticker)
    price = f"{bid:.4f}"
    created = trader.order(ticker, "bid", price, count="5.00", client_order_id="amend-me").json()
    order_id = created["order_id"]
    # Joining the best bid: the crowd that was there is ahead.
    position = trader.call("GET", f"/portfolio/orders/{order_id}/queue_position").json()
    assert Decimal(position["queue_position_fp"]) == crowd
    listed = trader.call("GET", "/portfolio/orders/queue_positions", market_tickers=ticker)
    assert listed.json()["queue_positions"] == [
        {"order_id": order_id, "market_ticker": ticker, "queue_position_fp": f"{crowd:.2f}"}
    ]

    # Decrease keeps the place in the queue.
    decreased = trader.call("POST", f"{CREATE}/{order_id}/decrease", {"reduce_by": "2.00"})
    assert decreased.status_code == 200
    assert decreased.json()["remaining_count"] == "3.00"
    assert set(decreased.json()) == {"order_id", "client_order_id", "remaining_count", "ts_ms"}
    assert trader.call("GET", f"/portfolio/orders/{order_id}/queue_position").json() == {
        "queue_position_fp": f"{crowd:.2f}"
    }
    both = trader.call(
        "POST", f"{CREATE}/{order_id}/decrease", {"reduce_by": "1.00", "reduce_to": "1.00"}
    )
    assert both.status_code == 400

    # Amend to a lower price: count is the new total (filled 0 + 4 resting).
    lower = f"{bid - Decimal('0.01'):.4f}"
    amended = trader.call(
        "POST",
        f"{CREATE}/{order_id}/amend",
        {
            "ticker": ticker,
            "side": "bid",
            "price": lower,
            "count": "4.00",
            "updated_client_order_id": "amended",
        },
    )
    assert amended.status_code == 200, amended.text
    body = amended.json()
    assert (body["remaining_count"], body["fill_count"], body["client_order_id"]) == (
        "4.00",
        "0.00",
        "amended",
    )
    order = trader.get_order(order_id)
    assert (order["yes_price_dollars"], order["remaining_count_fp"]) == (lower, "4.00")
    # It re-entered at the back of the lower level: everything there before is ahead.
    levels = dict(map(tuple, book(sim, http, ticker)["yes_dollars"]))
    ahead = trader.call("GET", f"/portfolio/orders/{order_id}/queue_position").json()
    assert Decimal(ahead["queue_position_fp"]) == Decimal(levels[lower]) - 4

    # Amend across the book: it trades like a taker.
    ask, _ = best_ask(sim, http, ticker)
    crossing = trader.call(
        "POST",
        f"{CREATE}/{order_id}/amend",
        {"ticker": ticker, "side": "bid", "price": f"{ask:.4f}", "count": "1.00"},
    )
    assert crossing.status_code == 200, crossing.text
    assert crossing.json()["fill_count"] == "1.00"
    assert Decimal(crossing.json()["average_fill_price"]) == ask
    assert trader.get_order(order_id)["status"] == "executed"
    gone = trader.call("POST", f"{CREATE}/{order_id}/decrease", {"reduce_to": "0"})
    assert gone.status_code == 404


def test_batch_create_and_cancel(sim: SimulatorServer, http: httpx.Client, market: Any) -> None:
    trader = Trader(sim, http)
    ticker = market["ticker"]
    order = {
        "ticker": ticker,
        "side": "bid",
        "count": "1.00",
        "price": "0.0200",
        "time_in_force": "good_till_canceled",
        "self_trade_prevention_type": "taker_at_cross",
    }
    batch = trader.call(
        "POST",
        f"{CREATE}/batched",
        {
            "orders": [
                {**order, "client_order_id": "b1"},
                {**order, "client_order_id": "b2", "price": "0.0250"},
                {**order, "client_order_id": "b3", "price": "0.0300"},
            ]
        },
    )
    assert batch.status_code == 201
    first, bad, third = batch.json()["orders"]
    assert third["client_order_id"] == "b3" and third["fill_count"] == "0.00"
    assert first["client_order_id"] == "b1" and first["remaining_count"] == "1.00"
    assert bad["error"]["code"] == "invalid_price" and "order_id" not in bad
    cancel = trader.call(
        "DELETE",
        f"{CREATE}/batched",
        {"orders": [{"order_id": first["order_id"]}, {"order_id": "unknown"}]},
    )
    assert cancel.status_code == 200
    done, missing = cancel.json()["orders"]
    assert (done["reduced_by"], done["client_order_id"]) == ("1.00", "b1")
    assert missing["error"]["code"] == "not_found" and missing["reduced_by"] == "0.00"
    statuses = {
        o["client_order_id"]: o["status"]
        for o in trader.call("GET", "/portfolio/orders", ticker=ticker).json()["orders"]
    }
    assert statuses == {"b1": "canceled", "b3": "resting"}
    too_many = trader.call("POST", f"{CREATE}/batched", {"orders": [order] * 11})
    assert too_many.status_code == 400


def test_fill_or_kill(sim: SimulatorServer, http: httpx.Client, market: Any) -> None:
    trader = Trader(sim, http, balance_dollars=100_000)
    ticker = market["ticker"]
    ask, size = best_ask(sim, http, ticker)
    killed = trader.order(
        ticker, "bid", f"{ask:.4f}", count=f"{size + 1:.2f}", time_in_force="fill_or_kill"
    )
    assert killed.status_code == 201
    assert (killed.json()["fill_count"], killed.json()["remaining_count"]) == ("0.00", "0.00")
    assert trader.get_order(killed.json()["order_id"])["status"] == "canceled"
    assert best_ask(sim, http, ticker) == (ask, size)  # the book is untouched
    filled = trader.order(
        ticker, "bid", f"{ask:.4f}", count=f"{size:.2f}", time_in_force="fill_or_kill"
    )
    assert filled.json()["fill_count"] == f"{size:.2f}"
    assert trader.get_order(filled.json()["order_id"])["status"] == "executed"


@pytest.mark.parametrize("precision", ["0.0001", "0.01"])
def test_accounts_trade_with_each_other_and_books_agree_to_the_cent(
    sim: SimulatorServer, http: httpx.Client, market: Any, precision: str
) -> None:
    maker = Trader(sim, http, balance_precision=precision)
    taker = Trader(sim, http, balance_precision=precision)
    ticker = market["ticker"]
    ask, _ = best_ask(sim, http, ticker)
    inside = ask - Decimal("0.01")  # a new best ask, one tick better than the crowd's
    start = {t.key_id: t.balance_micro() for t in (maker, taker)}
    # maker sells 3 YES it does not hold (= buys NO at 1 - inside) and rests
    rest = maker.order(ticker, "ask", f"{inside:.4f}", count="3.00").json()
    assert rest["remaining_count"] == "3.00"
    # taker buys 2 at up to the crowd's ask: our maker is better, so it trades first
    take = taker.order(
        ticker, "bid", f"{ask:.4f}", count="2.00", time_in_force="immediate_or_cancel"
    ).json()
    assert take["fill_count"] == "2.00" and Decimal(take["average_fill_price"]) == inside
    maker_order = maker.get_order(rest["order_id"])
    assert (maker_order["fill_count_fp"], maker_order["remaining_count_fp"]) == ("2.00", "1.00")
    maker_fills = maker.call("GET", "/portfolio/fills").json()["fills"]
    taker_fills = taker.call("GET", "/portfolio/fills").json()["fills"]
    assert [f["is_taker"] for f in maker_fills] == [False]
    assert maker_fills[0]["trade_id"] == taker_fills[0]["trade_id"]
    assert Decimal(maker_fills[0]["fee_cost"]) == 0  # the series charges no maker fee
    # taker then sells 1 back into the crowd's bid (closing half its YES)
    bid, _ = best_bid(sim, http, ticker)
    taker.order(ticker, "ask", f"{bid:.4f}", count="1.00", time_in_force="immediate_or_cancel")

    for trader in (maker, taker):
        orders = trader.call("GET", "/portfolio/orders").json()["orders"]
        fills = trader.call("GET", "/portfolio/fills").json()["fills"]
        accumulators = {o["order_id"]: FeeAccumulator(trader.precision) for o in orders}
        position = Decimal(0)
        balance = start[trader.key_id]
        for fill in reversed(fills):  # oldest first
            count = Decimal(fill["count_fp"])
            yes = Decimal(fill["yes_price_dollars"])
            signed = count if fill["book_side"] == "bid" else -count
            # cash: a bid pays the YES price (or, closing NO, receives the NO price) ...
            if fill["book_side"] == "bid":
                closing = min(count, max(Decimal(0), -position))
                cash = closing * (1 - yes) - (count - closing) * yes
            else:
                closing = min(count, max(Decimal(0), position))
                cash = closing * yes - (count - closing) * (1 - yes)
            charge = accumulators[fill["order_id"]].charge(
                int(cash * 1_000_000), int(Decimal(fill["fee_cost"]) * 1_000_000)
            )
            balance += charge.balance_delta
            position += signed
        assert trader.balance_micro() == balance
        assert balance % trader.precision == 0
        positions = trader.call("GET", "/portfolio/positions", ticker=ticker).json()
        held = positions["market_positions"][0]["position_fp"]
        assert Decimal(held) == position
    assert Decimal(
        maker.call("GET", "/portfolio/positions").json()["market_positions"][0]["position_fp"]
    ) == Decimal(-2)


def test_maker_fees_when_the_series_charges_them(
    sim: SimulatorServer, http: httpx.Client, market: Any
) -> None:
    event = http.get(f"{sim.base_url}/events/{market['event_ticker']}").json()["event"]
    series = event["series_ticker"]
    sim.schedule_fee_change(series, "quadratic_with_maker_fees", "1")
    assert http.get(f"{sim.base_url}/series/{series}").json()["series"]["fee_type"] == (
        "quadratic_with_maker_fees"
    )
    changes = http.get(
        f"{sim.base_url}/series/fee_changes",
        params={"series_ticker": series, "show_historical": "true"},
    ).json()["series_fee_change_arr"]
    assert changes[-1]["fee_type"] == "quadratic_with_maker_fees"
    try:
        maker, taker = Trader(sim, http), Trader(sim, http)
        ticker = market["ticker"]
        ask, _ = best_ask(sim, http, ticker)
        inside = ask - Decimal("0.01")
        maker.order(ticker, "ask", f"{inside:.4f}", count="1.00")
        taker.order(ticker, "bid", f"{inside:.4f}", time_in_force="immediate_or_cancel")
        fill = maker.call("GET", "/portfolio/fills").json()["fills"][0]
        expected = trade_fee_micro(100, int(inside * 10_000), Decimal("0.0175"))
        assert Decimal(fill["fee_cost"]) == Decimal(expected) / 1_000_000 > 0
    finally:
        sim.schedule_fee_change(series, "quadratic", "1")


def test_reduce_only_is_capped_by_the_position(
    sim: SimulatorServer, http: httpx.Client, market: Any
) -> None:
    trader = Trader(sim, http)
    ticker = market["ticker"]
    refused = trader.order(ticker, "ask", "0.0100", reduce_only=True)
    assert refused.status_code == 400
    assert refused.json()["error"]["details"] == "reduce only"
    trader.order(ticker, "bid", "0.9900", count="2.00", time_in_force="immediate_or_cancel")
    # sell 5 reduce-only: capped at the 2 held, into the bids
    sold = trader.order(
        ticker,
        "ask",
        "0.0100",
        count="5.00",
        time_in_force="immediate_or_cancel",
        reduce_only=True,
    ).json()
    assert sold["fill_count"] == "2.00"
    positions = trader.call("GET", "/portfolio/positions", ticker=ticker).json()
    assert positions["market_positions"][0]["position_fp"] == "0.00"


def test_a_key_without_the_trade_scope_cannot_trade(
    sim: SimulatorServer, http: httpx.Client, market: Any
) -> None:
    reader = Trader(sim, http, scopes=["read"])
    refused = reader.order(market["ticker"], "bid", "0.0100")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    assert reader.call("GET", "/portfolio/orders").status_code == 200
    trader = Trader(sim, http, scopes=["read", "write::trade"])
    assert trader.order(market["ticker"], "bid", "0.0100").status_code == 201


def test_a_dropped_create_response_leaves_the_order_placed(
    sim: SimulatorServer, http: httpx.Client, market: Any
) -> None:
    trader = Trader(sim, http)
    sim.set_faults(order_drop_after_accept=1)
    try:
        with pytest.raises(httpx.TransportError):
            trader.order(market["ticker"], "bid", "0.0100", client_order_id="lost-1")
    finally:
        sim.set_faults()
    orders = trader.call("GET", "/portfolio/orders").json()["orders"]
    assert [o["client_order_id"] for o in orders] == ["lost-1"]


def test_websocket_user_orders_fill_and_position_follow(
    sim: SimulatorServer, http: httpx.Client, market: Any
) -> None:
    trader = Trader(sim, http)
    ticker = market["ticker"]
    path = "/trade-api/ws/v2"

    async def scenario() -> list[dict[str, Any]]:
        headers = trader.signer.headers("GET", path)
        async with connect(sim.ws_url, additional_headers=headers) as ws:
            await ws.send(
                json.dumps(
                    {
                        "id": 1,
                        "cmd": "subscribe",
                        "params": {"channels": ["user_orders", "fill", "market_positions"]},
                    }
                )
            )
            for _ in range(3):
                assert json.loads(await ws.recv())["type"] == "subscribed"
            response = await asyncio.to_thread(
                trader.order, ticker, "bid", "0.9900", time_in_force="immediate_or_cancel"
            )
            assert response.status_code == 201
            frames = []
            while {f["type"] for f in frames} != {"user_order", "fill", "market_position"}:
                frames.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
            return frames

    frames = asyncio.run(asyncio.wait_for(scenario(), 30))
    by_type = {f["type"]: f["msg"] for f in frames}
    assert by_type["user_order"]["status"] == "executed"
    assert by_type["user_order"]["fill_count_fp"] == "1.00"
    assert by_type["fill"]["market_ticker"] == ticker and by_type["fill"]["is_taker"] is True
    assert by_type["market_position"]["position_fp"] == "1.00"
