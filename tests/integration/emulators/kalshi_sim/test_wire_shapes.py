"""The simulator answers in the recorded Kalshi shapes: same keys, same JSON value types.

For each endpoint with a recorded demo body, the simulator's response is walked
recursively (objects in lists: the union of their keys) and compared with the recording,
and it must parse with the project's models that parse the recorded bodies.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.kalshi import models as m

pytestmark = pytest.mark.integration

RECORDED = Path(__file__).resolve().parents[3] / "fixtures" / "kalshi_recorded"
PREFIX = "/trade-api/v2"

# Fields Kalshi removed after the June 2026 recording (changelog 2026-07-09); the
# simulator speaks the current API, so these may be absent. Keep this list small.
REMOVED_SINCE_RECORDING = frozenset(
    {"response_price_units", "fractional_trading_enabled", "resting_orders_count"}
)
# Fields the current spec requires that the June 2026 recording predates (the conformance
# test in tests/conformance holds the simulator to the spec). Keep this list small.
ADDED_SINCE_RECORDING = frozenset(
    {"$.market_positions[].exchange_index", "$.fills[].exchange_index"}
)
# Free-form objects whose keys depend on the market, not on the API.
OPAQUE = frozenset({"custom_strike"})
MARKET_FIXTURES = (
    "markets__page1",
    "markets__page2",
    "markets__page3",
    "markets__status_open",
    "markets__status_closed",
    "markets__status_settled",
    "markets__unauth_list",
    "markets__garbage_cursor",
    "markets__high_temp",
)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def shape(
    value: Any, path: str = "$", out: dict[str, set[str]] | None = None
) -> dict[str, set[str]]:
    """path -> JSON types seen there; list items share one path (``[]``)."""
    out = {} if out is None else out
    out.setdefault(path, set()).add(_kind(value))
    if isinstance(value, dict) and path.rsplit(".", 1)[-1] not in OPAQUE:
        for key, item in value.items():
            shape(item, f"{path}.{key}", out)
    elif isinstance(value, list):
        for item in value:
            shape(item, f"{path}[]", out)
    return out


def _allowed_absent(path: str) -> bool:
    return path.rsplit(".", 1)[-1] in REMOVED_SINCE_RECORDING


def recorded(*names: str) -> list[Any]:
    return [json.loads((RECORDED / f"{name}.json").read_text()) for name in names]


def assert_same_shape(sim_bodies: list[Any], recorded_bodies: list[Any]) -> None:
    sim: dict[str, set[str]] = {}
    for body in sim_bodies:
        shape(body, out=sim)
    rec: dict[str, set[str]] = {}
    for body in recorded_bodies:
        shape(body, out=rec)
    missing = {p for p in rec if p not in sim and not _allowed_absent(p)}
    extra = {p for p in sim if p not in rec and p not in ADDED_SINCE_RECORDING}
    assert not missing, f"simulator lacks recorded fields: {sorted(missing)}"
    assert not extra, f"simulator sends fields Kalshi did not: {sorted(extra)}"
    wrong = {p: (sim[p], rec[p]) for p in sim if p in rec and not sim[p] <= rec[p]}
    assert not wrong, f"JSON types differ (simulator, recorded): {wrong}"


@pytest.fixture(scope="module")
def client() -> Any:
    with httpx.Client(timeout=30, trust_env=False) as c:
        yield c


@pytest.fixture(scope="module")
def traded(simulator: Any) -> Any:
    """An account with fills and open positions, and an exchange that has moved."""
    from shared.kalshi.signing import KalshiSigner

    key_id, pem = simulator.create_account(balance_dollars=500)
    simulator.advance(40)
    for _ in range(4):
        simulator.fill(key_id)
    return KalshiSigner.from_pem(key_id, pem)


def get(client: httpx.Client, simulator: Any, path: str, signer: Any = None, **params: Any) -> Any:
    headers = signer.headers("GET", PREFIX + path) if signer is not None else {}
    response = client.get(simulator.base_url + path, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response


def test_market_list_matches_every_recorded_market_field(client: Any, simulator: Any) -> None:
    body = get(client, simulator, "/markets", limit=1000).json()
    assert len(body["markets"]) == 300
    assert_same_shape([body], recorded(*MARKET_FIXTURES))
    m.decode(json.dumps(body), m.GetMarketsResponse)


def test_single_market_and_its_event(client: Any, simulator: Any) -> None:
    markets = get(client, simulator, "/markets", limit=1000).json()["markets"]
    always = (
        set.intersection(
            *(
                set(mk)
                for body in recorded("markets__status_open", "markets__page1")
                for mk in body["markets"]
            )
        )
        - REMOVED_SINCE_RECORDING
    )
    union = set().union(*(set(mk) for body in recorded(*MARKET_FIXTURES) for mk in body["markets"]))
    for market in markets[:60]:
        single = get(client, simulator, f"/markets/{market['ticker']}").json()
        assert set(single) == {"market"}
        assert always <= set(single["market"]) <= union
        parsed = m.decode(json.dumps(single), m.GetMarketResponse)
        assert parsed.market.ticker == market["ticker"]
    event = get(client, simulator, f"/events/{markets[0]['event_ticker']}").json()
    parsed_event = m.decode(json.dumps(event), m.GetEventResponse)
    assert parsed_event.event.series_ticker
    get(client, simulator, f"/series/{parsed_event.event.series_ticker}")


def test_orderbook_trades_status_and_account_endpoints(
    client: Any, simulator: Any, traded: Any
) -> None:
    markets = get(client, simulator, "/markets", status="open", limit=50).json()["markets"]
    book_ticker = next(mk["ticker"] for mk in markets if mk["yes_bid_dollars"] != "0.0000")
    book = get(client, simulator, f"/markets/{book_ticker}/orderbook").json()
    assert_same_shape([book], recorded("orderbook__base"))
    m.decode(json.dumps(book), m.OrderbookResponse)

    trades = get(client, simulator, "/markets/trades", limit=50).json()
    assert trades["trades"], "the exchange printed no trades"
    assert_same_shape([trades], recorded("trades__public_recorded"))
    m.decode(json.dumps(trades), m.GetTradesResponse)

    cases = [
        ("/exchange/status", "exchange__status", m.ExchangeStatus),
        ("/portfolio/balance", "auth__balance_ok", m.Balance),
        ("/portfolio/positions", "portfolio__positions", m.PositionsResponse),
        ("/portfolio/fills", "fills__after_taker", m.FillsResponse),
        ("/portfolio/orders", "portfolio__orders_list", m.GetOrdersResponse),
        ("/portfolio/settlements", "settlements__page", m.SettlementsResponse),
        ("/account/limits", "account__limits", m.AccountLimits),
        ("/account/endpoint_costs", "account__endpoint_costs", m.EndpointCostsResponse),
        ("/series/fee_changes", "series__fee_changes", m.SeriesFeeChangesResponse),
    ]
    for path, name, model in cases:
        body = get(client, simulator, path, traded).json()
        assert_same_shape([body], recorded(name))
        m.decode(json.dumps(body), model)

    fills = get(client, simulator, "/portfolio/fills", traded).json()["fills"]
    assert fills
    order = get(client, simulator, f"/portfolio/orders/{fills[0]['order_id']}", traded).json()
    assert_same_shape([order], recorded("orders__get_after_create"))
    m.decode(json.dumps(order), m.GetOrderResponse)


def test_fee_cost_is_kalshis_quadratic_taker_fee(client: Any, simulator: Any, traded: Any) -> None:
    from decimal import ROUND_CEILING, Decimal

    fills = get(client, simulator, "/portfolio/fills", traded).json()["fills"]
    for fill in fills:
        p = Decimal(fill["yes_price_dollars"])
        count = Decimal(fill["count_fp"])
        expected = (Decimal("0.07") * p * (1 - p) * count).quantize(
            Decimal("0.0001"), ROUND_CEILING
        )
        assert Decimal(fill["fee_cost"]) == expected
        assert len(fill["fee_cost"].split(".")[1]) == 6


def test_candlesticks_come_from_the_exchanges_history(client: Any, simulator: Any) -> None:
    simulator.advance(240)  # two minutes of exchange time
    markets = get(client, simulator, "/markets", status="open", limit=200).json()["markets"]
    now = simulator.state()["now_ms"] // 1000
    found = 0
    for market in markets[:40]:
        event = get(client, simulator, f"/events/{market['event_ticker']}").json()["event"]
        body = get(
            client,
            simulator,
            f"/series/{event['series_ticker']}/markets/{market['ticker']}/candlesticks",
            start_ts=now - 3600,
            end_ts=now + 60,
            period_interval=1,
        ).json()
        parsed = m.decode(json.dumps(body), m.CandlesticksResponse)
        assert parsed.ticker == market["ticker"]
        ends = [c.end_period_ts for c in parsed.candlesticks]
        assert ends == sorted(ends) and all(b - a == 60 for a, b in itertools.pairwise(ends))
        found += len(ends)
    assert found > 0
    bad = client.get(
        simulator.base_url + "/series/KXHIGHNY/markets/X/candlesticks",
        params={"start_ts": 1, "end_ts": 2, "period_interval": 5},
    )
    assert bad.status_code == 404
