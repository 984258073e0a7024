"""Every recorded Kalshi body parses with the project's models or becomes the right error.

The recordings (tests/fixtures/kalshi_recorded, demo environment, June 2026) are the ground
truth. Each ``<name>.json`` has a ``<name>.meta.json`` with the method, path and status it
was recorded under; the route table below says which model a success body must parse as.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from shared.kalshi import errors as e
from shared.kalshi import models as m

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "kalshi_recorded"

# (method, path regex relative to /trade-api/v2, without query) -> success model
ROUTES: list[tuple[str, str, type[Any]]] = [
    ("GET", r"/exchange/status", m.ExchangeStatus),
    ("GET", r"/markets", m.GetMarketsResponse),
    ("GET", r"/markets/trades", m.GetTradesResponse),
    ("GET", r"/markets/[^/]+/orderbook", m.OrderbookResponse),
    ("GET", r"/markets/[^/]+", m.GetMarketResponse),
    ("GET", r"/series/fee_changes", m.SeriesFeeChangesResponse),
    ("GET", r"/portfolio/balance", m.Balance),
    ("GET", r"/portfolio/positions", m.PositionsResponse),
    ("GET", r"/portfolio/fills", m.FillsResponse),
    ("GET", r"/portfolio/settlements", m.SettlementsResponse),
    ("GET", r"/portfolio/orders", m.GetOrdersResponse),
    ("GET", r"/portfolio/orders/[^/]+", m.GetOrderResponse),
    ("POST", r"/portfolio/orders", m.GetOrderResponse),
    ("DELETE", r"/portfolio/orders/[^/]+", m.GetOrderResponse),
    ("POST", r"/portfolio/events/orders", m.CreateOrderV2Response),
    ("DELETE", r"/portfolio/events/orders/[^/]+", m.CancelOrderV2Response),
    ("GET", r"/account/limits", m.AccountLimits),
    ("GET", r"/account/endpoint_costs", m.EndpointCostsResponse),
]

ERRORS_BY_STATUS: dict[int, type[e.KalshiAPIError]] = {
    400: e.BadRequestError,
    401: e.AuthenticationError,
    404: e.NotFoundError,
    409: e.ConflictError,
    429: e.RateLimitedError,
}

# Money and count fields whose names do not end in _dollars/_fp.
_UNSUFFIXED_MONEY = {"fee_cost", "balance", "fill_count", "remaining_count", "reduced_by"}
_UNSUFFIXED_MONEY |= {"average_fill_price", "average_fee_paid", "start", "end", "step"}


def _recordings() -> Iterator[tuple[str, dict[str, Any]]]:
    for meta_path in sorted(FIXTURES.glob("*.meta.json")):
        name = meta_path.name[: -len(".meta.json")]
        body_path = FIXTURES / f"{name}.json"
        if not body_path.exists():
            continue  # ws__*.jsonl frames and the session manifest have no REST body
        yield name, json.loads(meta_path.read_text())


RECORDINGS = dict(_recordings())


def model_for(method: str, path: str) -> type[Any]:
    relative = path.split("?", 1)[0].removeprefix("/trade-api/v2")
    for route_method, pattern, model in ROUTES:
        if route_method == method and re.fullmatch(pattern, relative):
            return model
    raise AssertionError(f"no model mapped for {method} {relative}")


def test_every_rest_recording_is_covered() -> None:
    assert len(RECORDINGS) >= 55
    bodies = {p.name for p in FIXTURES.glob("*.json") if not p.name.endswith(".meta.json")}
    unmapped = bodies - {f"{name}.json" for name in RECORDINGS} - {"markets__high_temp.json"}
    assert not unmapped, f"recorded bodies without meta or test: {sorted(unmapped)}"


@pytest.mark.parametrize(
    "name", sorted(n for n, meta in RECORDINGS.items() if meta["status"] < 400)
)
def test_success_body_parses_with_its_model(name: str) -> None:
    meta = RECORDINGS[name]
    body = (FIXTURES / f"{name}.json").read_bytes()
    model = model_for(meta["method"], meta["path"])
    parsed = m.decode(body, model)
    assert isinstance(parsed, model)
    _assert_money_exact(json.loads(body), msgspec.to_builtins(parsed), name)


@pytest.mark.parametrize(
    "name", sorted(n for n, meta in RECORDINGS.items() if meta["status"] >= 400)
)
def test_error_body_becomes_the_right_typed_error(name: str) -> None:
    meta = RECORDINGS[name]
    body = (FIXTURES / f"{name}.json").read_bytes()
    error = e.error_from_response(meta["status"], body, method=meta["method"], path=meta["path"])
    assert type(error) is ERRORS_BY_STATUS[meta["status"]]
    assert error.status == meta["status"]
    data = json.loads(body)
    wire_error = data.get("error")
    if isinstance(wire_error, dict):  # nested shape
        assert error.code == wire_error["code"]
        assert error.message == wire_error["message"]
        assert error.details == wire_error.get("details")
    elif "code" in data:  # flat shape
        assert (error.code, error.message, error.details) == (
            data["code"],
            data["message"],
            data["details"],
        )
    else:  # bare shape
        assert error.code is None
        assert error.message == data["msg"]
    text = str(error)
    assert f"HTTP {meta['status']}" in text
    assert meta["method"] in text
    if error.code or error.details:
        assert (error.details or error.code or "") in text  # the message names the cause


def test_high_temp_capture_parses_exactly() -> None:
    body = (FIXTURES / "markets__high_temp.json").read_bytes()
    page = m.decode(body, m.GetMarketsResponse)
    assert len(page.markets) == 18
    first = page.markets[0]
    assert first.ticker == "KXHIGHNY-26JUN15-T85"
    assert first.floor_strike == Decimal(85)
    assert first.yes_ask_dollars == Decimal("0.5000")
    _assert_money_exact(json.loads(body), msgspec.to_builtins(page), "markets__high_temp")


def test_single_market_fields_and_units() -> None:
    market = m.decode((FIXTURES / "markets__single.json").read_bytes(), m.GetMarketResponse).market
    assert market.status == m.MarketStatus.ACTIVE
    assert (market.yes_bid_dollars, market.yes_ask_dollars) == (Decimal("0.47"), Decimal("0.52"))
    assert str(market.yes_bid_dollars) == "0.4700"
    assert market.no_ask_dollars == 1 - market.yes_bid_dollars
    assert market.volume_fp == Decimal("2.00") and market.open_interest_fp == Decimal("2")
    assert market.close_time.isoformat() == "2026-06-25T16:00:00+00:00"
    assert market.updated_time is not None and market.updated_time.microsecond == 285630
    assert market.price_ranges[0].step == Decimal("0.0100")
    assert market.custom_strike == {"tennis_competitor": "367dcce8-d796-4ed5-80ff-ddec69845a41"}
    assert market.mid_dollars == Decimal("0.495")


def test_orderbook_helpers_match_the_market_quote() -> None:
    book = m.decode((FIXTURES / "orderbook__base.json").read_bytes(), m.OrderbookResponse).book
    market = m.decode((FIXTURES / "markets__single.json").read_bytes(), m.GetMarketResponse).market
    assert book.best_yes_bid == (market.yes_bid_dollars, Decimal("3.00"))
    assert book.best_yes_ask is not None and book.best_yes_ask[0] == market.yes_ask_dollars
    assert book.best_no_ask is not None and book.best_no_ask[0] == market.no_ask_dollars
    assert book.spread_dollars == Decimal("0.05")


def test_positions_fills_balance_units() -> None:
    positions = m.decode((FIXTURES / "portfolio__positions.json").read_bytes(), m.PositionsResponse)
    position = positions.market_positions[0]
    assert position.position_fp == Decimal("3.00")
    assert position.last_updated_ts is not None and position.last_updated_ts.year == 2026
    assert positions.event_positions[0].total_cost_shares_fp == Decimal(3)
    assert positions.cursor == ""

    fills = m.decode((FIXTURES / "fills__after_taker.json").read_bytes(), m.FillsResponse)
    assert fills.fills[0].fee_cost == Decimal("0.017500")
    assert fills.fills[0].ts == 1781159370

    balance = m.decode((FIXTURES / "auth__balance_ok.json").read_bytes(), m.Balance)
    assert balance.balance == 9801  # cents, truncated
    assert balance.exact_balance_dollars == Decimal("98.0186")


def _assert_money_exact(raw: Any, rebuilt: Any, where: str) -> None:
    """Every *_dollars / *_fp value re-encodes to the exact wire string (or number)."""
    if isinstance(raw, dict) and isinstance(rebuilt, dict):
        for key, value in raw.items():
            if key not in rebuilt:
                continue  # unknown/legacy field, ignored by design
            is_money = key.endswith(("_dollars", "_fp")) or key in _UNSUFFIXED_MONEY
            if is_money and isinstance(value, str):
                assert rebuilt[key] == value, f"{where}: {key} {value!r} -> {rebuilt[key]!r}"
            elif is_money and isinstance(value, int | float) and not isinstance(value, bool):
                assert Decimal(str(value)) == Decimal(str(rebuilt[key])), f"{where}: {key}"
            else:
                _assert_money_exact(value, rebuilt[key], f"{where}.{key}")
    elif isinstance(raw, list) and isinstance(rebuilt, list):
        assert len(raw) == len(rebuilt)
        for index, (raw_item, rebuilt_item) in enumerate(zip(raw, rebuilt, strict=True)):
            if isinstance(raw_item, str) and isinstance(rebuilt_item, str):
                assert raw_item == rebuilt_item, f"{where}[{index}]"
            else:
                _assert_money_exact(raw_item, rebuilt_item, f"{where}[{index}]")
