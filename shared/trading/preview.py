"""What a ticket would cost, for the dashboard's order ticket (``POST /orders/preview``).

Priced with Kalshi's own charge per fill (:mod:`shared.domain.fees`): the trade fee from the
market's fee structure, ceiled to $0.0001, then the rounding fee that floors the balance
change to the member's balance precision ($0.01). Two cases, because the ticket cannot know
which will happen: filled at once in full at the limit price as the *taker*, and resting
and filled in full as the *maker* (free on most series). Real fills may come at better
prices and in pieces; the accumulator's whole-cent rebates then make many small fills cost
what one fill would, so these figures are the ticket's upper bound at its price.

A buy pays ``count x price``; a sell is priced as selling contracts held (it receives
``count x price``). Money is exact: integers in micro-dollars inside, strings outside.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from shared.domain.fees import (
    MEMBER_PRECISION_MICRO,
    FeeAccumulator,
    rates_for,
    trade_fee_micro,
)
from shared.domain.units import COUNT_SCALE, MICRO_PER_DOLLAR, PRICE_SCALE
from shared.trading.markets import MarketRules
from shared.trading.translate import Ticket

__all__ = ["preview"]


def _dollars(micro: int) -> str:
    return f"{Decimal(micro) / MICRO_PER_DOLLAR:.6f}"


def _charge(revenue_micro: int, fee_micro: int, precision_micro: int) -> dict[str, str]:
    charge = FeeAccumulator(precision_micro).charge(revenue_micro, fee_micro)
    return {
        "trade_fee": _dollars(charge.trade_fee),
        "rounding_fee": _dollars(charge.rounding_fee),
        "rebate": _dollars(charge.rebate),
        "total_fee": _dollars(charge.net_fee),
        "balance_change": _dollars(charge.balance_delta),
    }


def preview(
    ticket: Ticket, rules: MarketRules, *, precision_micro: int = MEMBER_PRECISION_MICRO
) -> dict[str, Any]:
    """The ticket's cost and fees; see the module docstring."""
    book_side, yes_price = ticket.book
    count_units = int(ticket.count * COUNT_SCALE)
    price_ticks = int(yes_price * PRICE_SCALE)
    taker_rate, maker_rate = rates_for(rules.fee_type, rules.fee_multiplier)
    notional_micro = int(ticket.count * ticket.price * MICRO_PER_DOLLAR)
    revenue = -notional_micro if ticket.action == "buy" else notional_micro
    taker_fee = trade_fee_micro(count_units, price_ticks, taker_rate, fee_type=rules.fee_type)
    maker_fee = trade_fee_micro(count_units, price_ticks, maker_rate, fee_type=rules.fee_type)
    return {
        **ticket.to_json(),
        "book_side": book_side,
        "yes_price": f"{yes_price:.4f}",
        "cost": _dollars(notional_micro) if ticket.action == "buy" else _dollars(0),
        "proceeds": _dollars(notional_micro) if ticket.action == "sell" else _dollars(0),
        "max_cost": f"{ticket.collateral:.6f}",
        "fee_type": rules.fee_type,
        "fee_multiplier": str(rules.fee_multiplier),
        "balance_precision": _dollars(precision_micro),
        "taker": _charge(revenue, taker_fee, precision_micro),
        "maker": _charge(revenue, maker_fee, precision_micro),
    }
