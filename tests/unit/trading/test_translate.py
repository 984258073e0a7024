"""The ticket <-> V2 translation: every side/action combination round-trips, and Kalshi's
order-direction table holds; tickets refuse what Kalshi would not take."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shared.trading.translate import (
    ACTIONS,
    SIDES,
    Ticket,
    TicketError,
    from_book,
    parse_ticket,
    to_book,
)

PRICES = [Decimal(n) / 10_000 for n in (1, 50, 100, 2500, 4500, 5000, 5001, 9899, 9999)]


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("price", PRICES)
def test_every_side_and_action_round_trips(side: str, action: str, price: Decimal) -> None:
    book_side, yes_price = to_book(side, action, price)
    assert Decimal(0) < yes_price < Decimal(1)
    assert from_book(book_side, yes_price, side) == (action, price)
    # Seen from the other side, the same book order is the mirror ticket.
    other = "no" if side == "yes" else "yes"
    mirror_action, mirror_price = from_book(book_side, yes_price, other)
    assert mirror_action != action and mirror_price == Decimal(1) - price
    assert to_book(other, mirror_action, mirror_price) == (book_side, yes_price)


def test_kalshis_order_direction_table() -> None:
    p = Decimal("0.45")
    assert to_book("yes", "buy", p) == ("bid", p)
    assert to_book("no", "sell", p) == ("bid", Decimal("0.55"))
    assert to_book("no", "buy", p) == ("ask", Decimal("0.55"))
    assert to_book("yes", "sell", p) == ("ask", p)


def test_collateral_is_what_the_order_can_cost() -> None:
    buy = Ticket("KX-A", "yes", "buy", Decimal(10), Decimal("0.45"))
    sell = Ticket("KX-A", "yes", "sell", Decimal(10), Decimal("0.45"))
    assert buy.collateral == Decimal("4.500000")
    assert sell.collateral == Decimal("5.500000")  # selling unheld YES buys NO at 0.55
    assert sell.notional == Decimal("4.500000")


def _body(**fields: object) -> dict[str, object]:
    return {"ticker": "KXHIGH-26JUN11-B80", "side": "yes", "action": "buy", "count": "10",
            "price": "0.4500", **fields}  # fmt: skip


def test_a_valid_ticket() -> None:
    ticket = parse_ticket(_body(time_in_force="fill_or_kill", client_order_id="abc-1"))
    assert ticket.count == Decimal("10.00") and ticket.price == Decimal("0.4500")
    assert ticket.time_in_force == "fill_or_kill" and ticket.client_order_id == "abc-1"
    assert parse_ticket(_body(ticker="kxhigh-26jun11-b80", price="0.45")).ticker == (
        "KXHIGH-26JUN11-B80"
    )
    assert parse_ticket(_body()).to_json()["book_side"] == "bid"


@pytest.mark.parametrize(
    ("fields", "code", "words"),
    [
        ({"price": "0"}, "invalid_price", "above 0"),
        ({"price": "1"}, "invalid_price", "below 1"),
        ({"price": "1.5"}, "invalid_price", "below 1"),
        ({"price": "-0.5"}, "invalid_price", "above 0"),
        ({"price": "0.00001"}, "invalid_price", "4 decimal"),
        ({"price": "abc"}, "invalid_order", "not a decimal"),
        ({"price": "NaN"}, "invalid_order", "not a decimal"),
        ({"price": "1e-2"}, "invalid_order", "not a decimal"),
        ({"price": 0.45}, "invalid_order", "not a number"),
        ({"price": True}, "invalid_order", "not a number"),
        ({"price": None}, "invalid_order", "required"),
        ({"count": "0"}, "invalid_order", "above 0"),
        ({"count": "-1"}, "invalid_order", "above 0"),
        ({"count": "1.234"}, "invalid_order", "2 decimal"),
        ({"count": "2000000"}, "invalid_order", "at most"),
        ({"count": 10}, "invalid_order", "not a number"),
        ({"side": "maybe"}, "invalid_order", "side"),
        ({"action": "hold"}, "invalid_order", "action"),
        ({"time_in_force": "day"}, "invalid_order", "time_in_force"),
        ({"ticker": "bad ticker"}, "invalid_order", "ticker"),
        ({"ticker": ""}, "invalid_order", "ticker"),
        ({"client_order_id": "x" * 65}, "invalid_order", "client_order_id"),
        ({"client_order_id": 5}, "invalid_order", "client_order_id"),
        ({"leverage": "10"}, "invalid_order", "unknown field"),
    ],
)
def test_bad_tickets_name_the_problem(fields: dict[str, object], code: str, words: str) -> None:
    with pytest.raises(TicketError) as raised:
        parse_ticket(_body(**fields))
    assert raised.value.code == code
    assert words in raised.value.message


def test_the_body_must_be_an_object() -> None:
    for body in ([], "x", None, 5):
        with pytest.raises(TicketError):
            parse_ticket(body)
