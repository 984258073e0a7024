"""An order as a person says it (``buy NO at 0.55``) and as Kalshi's V2 book takes it.

Orders V2 quotes everything on the YES book: ``bid`` buys YES, ``ask`` sells YES, at a YES
price. Our API keeps the wording of the ticket, as the legacy API and the dashboard do: a
``side`` (the contract, ``yes`` or ``no``), an ``action`` (``buy``/``sell``) and the price
*of that side*. Buying NO at ``p`` is selling YES at ``1 - p`` (Kalshi's own order-direction
table: buy yes and sell no are bids, buy no and sell yes are asks), so:

====== ====== ========== ===============
action side   book side  YES price
====== ====== ========== ===============
buy    yes    bid        p
sell   no     bid        1 - p
buy    no     ask        1 - p
sell   yes    ask        p
====== ====== ========== ===============

Going back needs the side the person chose, because ``ask @ 0.45`` is both ``sell yes @
0.45`` and ``buy no @ 0.55``: :func:`from_book` takes it (from our own audit of the order,
else Kalshi's deprecated ``side`` field, else YES).

:func:`parse_ticket` turns a request body into a :class:`Ticket`, refusing (with a
:class:`TicketError` naming the field) anything that is not exactly what Kalshi would take:
money and counts are decimal *strings*, never JSON numbers (a float would round them).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = [
    "ACTIONS",
    "COUNT_QUANTUM",
    "MAX_COUNT",
    "PRICE_QUANTUM",
    "SIDES",
    "TIME_IN_FORCE",
    "Ticket",
    "TicketError",
    "book_price",
    "from_book",
    "parse_count",
    "parse_price",
    "parse_ticket",
    "to_book",
]

SIDES = ("yes", "no")
ACTIONS = ("buy", "sell")
TIME_IN_FORCE = ("good_till_canceled", "immediate_or_cancel", "fill_or_kill")
ONE = Decimal(1)
PRICE_QUANTUM = Decimal("0.0001")
COUNT_QUANTUM = Decimal("0.01")
MAX_COUNT = Decimal(1_000_000)
"""No single order is larger than this, whatever a user's own limit says."""
TICKET_FIELDS = (
    "ticker",
    "side",
    "action",
    "count",
    "price",
    "time_in_force",
    "client_order_id",
)
_TICKER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_CLIENT_ORDER_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")


class TicketError(ValueError):
    """A ticket Kalshi could not take; ``code`` is the API's error code, the message
    names the field."""

    def __init__(self, message: str, code: str = "invalid_order") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def to_book(side: str, action: str, price: Decimal) -> tuple[str, Decimal]:
    """``(book_side, yes_price)`` of ``action`` on ``side`` at that side's ``price``."""
    if side not in SIDES or action not in ACTIONS:
        raise ValueError(f"unknown side/action {side!r}/{action!r}")
    book_side = "bid" if (action == "buy") == (side == "yes") else "ask"
    return book_side, book_price(side, price)


def book_price(side: str, price: Decimal) -> Decimal:
    """The YES price of ``side``'s ``price`` (a NO price ``p`` is YES ``1 - p``)."""
    return price if side == "yes" else ONE - price


def from_book(book_side: str, yes_price: Decimal, side: str) -> tuple[str, Decimal]:
    """``(action, price of side)`` of a V2 order seen from ``side``: the inverse of
    :func:`to_book` (``to_book(side, *from_book(b, y, side)) == (b, y)``)."""
    if book_side not in ("bid", "ask") or side not in SIDES:
        raise ValueError(f"unknown book side/side {book_side!r}/{side!r}")
    action = "buy" if (book_side == "bid") == (side == "yes") else "sell"
    return action, book_price(side, yes_price)


@dataclass(frozen=True)
class Ticket:
    """A validated order request in the person's terms."""

    ticker: str
    side: str
    action: str
    count: Decimal
    price: Decimal
    time_in_force: str = "good_till_canceled"
    client_order_id: str | None = None

    @property
    def book(self) -> tuple[str, Decimal]:
        return to_book(self.side, self.action, self.price)

    @property
    def collateral(self) -> Decimal:
        """The most this order can cost: what the contracts it buys cost at the limit.

        A buy of ``side`` at ``p`` pays ``count x p``; a sell of ``side`` at ``p`` is a buy
        of the other side at ``1 - p`` when nothing is held (Kalshi positions net), so at
        worst it pays ``count x (1 - p)``. The per-order dollar limit is measured on this.
        """
        per_contract = self.price if self.action == "buy" else ONE - self.price
        return (self.count * per_contract).quantize(Decimal("0.000001"))

    @property
    def notional(self) -> Decimal:
        """``count x price``: paid by a buy, received by a sell of held contracts."""
        return (self.count * self.price).quantize(Decimal("0.000001"))

    def to_json(self) -> dict[str, Any]:
        book_side, yes_price = self.book
        return {
            "ticker": self.ticker,
            "side": self.side,
            "action": self.action,
            "count": f"{self.count:.2f}",
            "price": f"{self.price:.4f}",
            "time_in_force": self.time_in_force,
            "client_order_id": self.client_order_id,
            "book_side": book_side,
            "yes_price": f"{yes_price:.4f}",
        }


def _decimal_text(value: Any, name: str, example: str) -> Decimal:
    if isinstance(value, bool | int | float):
        raise TicketError(f'{name} must be a decimal string such as "{example}", not a number')
    if not isinstance(value, str):
        raise TicketError(f'{name} must be a decimal string such as "{example}"')
    text = value.strip()
    if len(text) > 32 or not _DECIMAL.match(text):
        raise TicketError(f'{name} is not a decimal number (for example "{example}")')
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern already refused it
        raise TicketError(f"{name} is not a decimal number") from None


def parse_count(value: Any, name: str = "count") -> Decimal:
    """Contracts: a decimal string above 0, at most 2 decimal places, at most 1,000,000."""
    count = _decimal_text(value, name, "10")
    if count <= 0:
        raise TicketError(f"{name} must be above 0")
    if count != count.quantize(COUNT_QUANTUM):
        raise TicketError(f"{name} may have at most 2 decimal places")
    if count > MAX_COUNT:
        raise TicketError(f"{name} may be at most {MAX_COUNT}")
    return count.quantize(COUNT_QUANTUM)


def parse_price(value: Any, name: str = "price") -> Decimal:
    """A price in dollars strictly between 0 and 1, at most 4 decimal places."""
    price = _decimal_text(value, name, "0.4500")
    if not Decimal(0) < price < ONE:
        raise TicketError(f"{name} must be above 0 and below 1 dollar", "invalid_price")
    if price != price.quantize(PRICE_QUANTUM):
        raise TicketError(f"{name} may have at most 4 decimal places", "invalid_price")
    return price.quantize(PRICE_QUANTUM)


def _choice(body: Mapping[str, Any], name: str, choices: tuple[str, ...]) -> str:
    value = body.get(name)
    if not isinstance(value, str) or value not in choices:
        raise TicketError(f"{name} must be one of {', '.join(choices)}")
    return value


def parse_ticker(value: Any, name: str = "ticker") -> str:
    if not isinstance(value, str) or not _TICKER.match(value):
        raise TicketError(f"{name} must be a Kalshi market ticker such as KXHIGHNY-26JUN11-B80")
    return value.upper()


def parse_ticket(body: Any, *, fields: tuple[str, ...] = TICKET_FIELDS) -> Ticket:
    """A ``POST /orders`` (or preview) body as a :class:`Ticket`; see the module docstring."""
    if not isinstance(body, dict):
        raise TicketError("the body must be a JSON object")
    unknown = sorted(set(body) - set(fields))
    if unknown:
        raise TicketError(f"unknown field {unknown[0][:40]!r}; an order takes {', '.join(fields)}")
    for name in ("ticker", "side", "action", "count", "price"):
        if body.get(name) is None:
            raise TicketError(f"{name} is required")
    client_order_id = body.get("client_order_id")
    if client_order_id is not None and (
        not isinstance(client_order_id, str) or not _CLIENT_ORDER_ID.match(client_order_id)
    ):
        raise TicketError("client_order_id must be 1 to 64 letters, digits, '-' or '_'")
    time_in_force = body.get("time_in_force", "good_till_canceled")
    if time_in_force not in TIME_IN_FORCE:
        raise TicketError(f"time_in_force must be one of {', '.join(TIME_IN_FORCE)}")
    return Ticket(
        ticker=parse_ticker(body.get("ticker")),
        side=_choice(body, "side", SIDES),
        action=_choice(body, "action", ACTIONS),
        count=parse_count(body.get("count")),
        price=parse_price(body.get("price")),
        time_in_force=str(time_in_force),
        client_order_id=client_order_id,
    )
