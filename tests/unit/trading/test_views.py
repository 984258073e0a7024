"""Orders and fills as Kalshi lists them (the recorded demo bodies), in the ticket's terms;
Kalshi's refusals as our JSON errors."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import msgspec

from shared.kalshi import models as m
from shared.kalshi.errors import (
    BadRequestError,
    KalshiTransportError,
    NotFoundError,
    PermissionDeniedError,
)
from shared.kalshi.orders import ClientOrderIdConflict
from shared.trading.markets import MarketRules
from shared.trading.service import fill_view, kalshi_error, order_view

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "kalshi_recorded"


def _recorded(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def test_a_recorded_order_as_the_ticket_shows_it() -> None:
    order = msgspec.json.decode(
        _recorded("orders__get_after_create"), type=m.GetOrderResponse
    ).order
    view = order_view(order, None)
    assert (view["side"], view["action"], view["price"]) == ("yes", "buy", "0.0100")
    assert view["status"] == "resting" and view["remaining_count"] == "1.00"
    assert view["book_side"] == "bid" and view["yes_price"] == "0.0100"
    # The same bid seen as the person placed it when they said "sell NO at 0.99".
    as_no = order_view(order, "no")
    assert (as_no["action"], as_no["price"]) == ("sell", "0.9900")


def test_a_recorded_fill_as_the_ticket_shows_it() -> None:
    fills = msgspec.json.decode(_recorded("fills__after_taker"), type=m.FillsResponse).fills
    view = fill_view(fills[0], "yes")
    assert (view["action"], view["count"], view["price"]) == ("buy", "1.00", "0.5200")
    assert view["fee"] == "0.017500" and view["is_taker"] is True
    assert fill_view(fills[0], "no")["price"] == "0.4800"


def test_kalshis_refusals_keep_kalshis_code() -> None:
    body = json.loads(_recorded("orders__insufficient_balance"))
    error = kalshi_error(BadRequestError(400, body["error"]["code"], body["error"]["message"]))
    assert (error.status, error.code) == (400, "insufficient_balance")
    assert error.message == "Kalshi refused the request: insufficient balance"
    post_only = kalshi_error(
        BadRequestError(400, "invalid_order", "invalid order", "post only cross")
    )
    assert post_only.message.endswith("invalid order (post only cross)")
    assert kalshi_error(NotFoundError(404, "not_found", "not found")).status == 404
    forbidden = kalshi_error(PermissionDeniedError(403, "forbidden", "forbidden"))
    assert (forbidden.status, forbidden.code) == (403, "kalshi_trading_not_permitted")
    conflict = kalshi_error(ClientOrderIdConflict("abc", None))
    assert (conflict.status, conflict.code) == (409, "client_order_id_conflict")
    down = kalshi_error(KalshiTransportError("connection refused"))
    assert down.status == 503 and down.headers["Retry-After"]


def test_the_price_grid() -> None:
    cent = MarketRules(
        "KX", "active", (m.PriceRange(start=Decimal(0), end=Decimal(1), step=Decimal("0.01")),)
    )
    assert cent.on_grid(Decimal("0.45")) and not cent.on_grid(Decimal("0.005"))
    tapered = MarketRules(
        "KX",
        "active",
        (
            m.PriceRange(start=Decimal(0), end=Decimal("0.10"), step=Decimal("0.001")),
            m.PriceRange(start=Decimal("0.10"), end=Decimal("0.90"), step=Decimal("0.01")),
            m.PriceRange(start=Decimal("0.90"), end=Decimal(1), step=Decimal("0.001")),
        ),
    )
    assert tapered.on_grid(Decimal("0.005")) and tapered.on_grid(Decimal("0.955"))
    assert not tapered.on_grid(Decimal("0.455")) and not tapered.on_grid(Decimal("0.0005"))
    assert "steps of 0.001" in tapered.describe_grid()
