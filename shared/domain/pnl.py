"""Profit and loss, defined once: positions, the portfolio, today's P&L and performance.

Every figure the dashboard and the streamer show about a trader's account comes from these
pure functions over small typed inputs (no HTTP, no database, no Kalshi client), so the
account API and the streamer cannot disagree about what "unrealized" or "today" means.
``docs/pnl.md`` states each definition with worked examples; its numbers are asserted by
``tests/unit/account/test_pnl_doc.py``.

Money stays exact: every amount is a :class:`~decimal.Decimal` built from Kalshi's
fixed-point strings (``"0.4700"`` dollars, ``"3.00"`` contracts). Products of a count
(2 dp) and a price (4 dp) are exact at 6 dp, which is also the precision of Kalshi's
portfolio fields (``"2.500000"``). Only three values are rounded, each on purpose:

- an average entry price (exposure / contracts) is quantized to $0.0001 for display; P&L
  never goes through it (unrealized = market value - exposure, both exact);
- a percentage is quantized to 0.01 (a ratio, not money);
- when a partial close removes a share of the cost basis, the share is truncated to
  $0.000001, the precision Kalshi keeps exposure in (see :func:`replay_fills`).

Conventions (Kalshi's): a signed position ``> 0`` holds YES contracts, ``< 0`` holds NO;
``market_exposure_dollars`` is the cost basis of the contracts held (fees excluded);
``realized_pnl_dollars`` is locked-in P&L before fees; fees are reported apart. So every
P&L figure here is *before fees* unless its name says ``net`` (= before fees - fees).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import Literal

__all__ = [
    "BaselinePoint",
    "ClosedTrade",
    "CurvePoint",
    "FillRecord",
    "Grouped",
    "Holding",
    "Mark",
    "MarkSource",
    "Performance",
    "PortfolioSummary",
    "PositionValuation",
    "Quote",
    "Replay",
    "SettlementRecord",
    "Side",
    "Transfer",
    "average_entry_price",
    "best_ask",
    "best_bid",
    "fill_delta",
    "mark_price",
    "max_drawdown",
    "net_transfers",
    "percent",
    "performance",
    "replay_fills",
    "side_of",
    "summarize_portfolio",
    "today_pnl",
    "value_position",
    "win_rate",
]

Side = Literal["yes", "no"]
MarkSource = Literal["bid", "last_price", "settlement", "no_price"]

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)
PRICE_QUANTUM = Decimal("0.0001")
MONEY_QUANTUM = Decimal("0.000001")
PERCENT_QUANTUM = Decimal("0.01")


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True, slots=True)
class Holding:
    """One market position as Kalshi reports it (``GET /portfolio/positions`` or the
    ``market_positions`` WebSocket channel), in dollars and contracts."""

    ticker: str
    position: Decimal  # signed contracts: > 0 YES, < 0 NO
    exposure: Decimal  # cost basis of the contracts held, fees excluded
    realized_pnl: Decimal = ZERO  # locked in, before fees
    fees_paid: Decimal = ZERO
    total_traded: Decimal = ZERO
    last_updated: datetime | None = None


@dataclass(frozen=True, slots=True)
class Quote:
    """A market's YES quote. ``None`` or a bid of 0 / an ask of 1 means "no order there".

    ``settlement_value`` is the payout of one YES contract once the market is determined
    (its book is cleared then, so the bid can no longer mark the position).
    """

    yes_bid: Decimal | None
    yes_ask: Decimal | None
    last_price: Decimal | None = None
    settlement_value: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Mark:
    """The price one held contract is valued at, and where it came from."""

    price: Decimal
    source: MarkSource


# --------------------------------------------------------------------------- positions


def side_of(position: Decimal) -> Side | None:
    """``"yes"`` for a positive position, ``"no"`` for a negative one, None when flat."""
    if position > 0:
        return "yes"
    if position < 0:
        return "no"
    return None


def _live_bid(price: Decimal | None) -> Decimal | None:
    return price if price is not None and ZERO < price < ONE else None


def best_bid(quote: Quote, side: Side) -> Decimal | None:
    """The best bid for ``side``: the YES bid, or for NO ``1 - YES ask`` (a NO bid at
    0.48 is a YES ask at 0.52). None when nobody bids for that side."""
    if side == "yes":
        return _live_bid(quote.yes_bid)
    ask = _live_bid(quote.yes_ask)
    return ONE - ask if ask is not None else None


def best_ask(quote: Quote, side: Side) -> Decimal | None:
    """The best ask for ``side``: the YES ask, or for NO ``1 - YES bid``; None if none."""
    if side == "yes":
        return _live_bid(quote.yes_ask)
    bid = _live_bid(quote.yes_bid)
    return ONE - bid if bid is not None else None


def mark_price(quote: Quote, side: Side) -> Mark:
    """What one held ``side`` contract is worth now.

    1. A determined market: its settlement value (YES) or ``1 - value`` (NO); that is what
       the contract will pay.
    2. The best bid of the held side: what selling it now would fetch (a conservative
       mark, the one Kalshi's ``portfolio_value`` uses).
    3. No bid: the last traded price, flagged ``last_price`` so a screen can say the value
       is not executable.
    4. Neither: zero, flagged ``no_price`` (nothing to sell into, no trade to point at).
    """
    if quote.settlement_value is not None:
        value = quote.settlement_value if side == "yes" else ONE - quote.settlement_value
        return Mark(value, "settlement")
    bid = best_bid(quote, side)
    if bid is not None:
        return Mark(bid, "bid")
    last = _live_bid(quote.last_price)
    if last is not None:
        return Mark(last if side == "yes" else ONE - last, "last_price")
    return Mark(ZERO, "no_price")


def average_entry_price(exposure: Decimal, contracts: Decimal) -> Decimal | None:
    """Cost basis per contract held (exposure / contracts) to $0.0001; None when flat."""
    if contracts == 0:
        return None
    return (exposure / contracts).quantize(PRICE_QUANTUM, rounding=ROUND_HALF_EVEN)


def percent(part: Decimal, whole: Decimal) -> Decimal | None:
    """``part / whole`` in percent to 0.01; None when ``whole`` is not positive (a ratio
    of nothing, or of a negative base, is not a return)."""
    if whole <= 0:
        return None
    return (part * HUNDRED / whole).quantize(PERCENT_QUANTUM, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True, slots=True)
class PositionValuation:
    """One position valued at its mark. P&L figures are before fees."""

    ticker: str
    side: Side | None
    contracts: Decimal
    cost_basis: Decimal
    average_entry_price: Decimal | None
    best_bid: Decimal | None
    best_ask: Decimal | None
    mark: Decimal | None
    mark_source: MarkSource | None
    market_value: Decimal
    unrealized_pnl: Decimal
    unrealized_pnl_pct: Decimal | None
    realized_pnl: Decimal
    fees_paid: Decimal

    @property
    def is_open(self) -> bool:
        return self.side is not None


def value_position(holding: Holding, quote: Quote | None) -> PositionValuation:
    """Value ``holding`` at ``quote`` (None: the market is unknown; marked ``no_price``).

    market value = contracts x mark; unrealized = market value - exposure;
    unrealized % = unrealized / exposure. A flat position (contracts closed, market not
    settled yet) keeps its realized P&L and fees and has no mark.
    """
    side = side_of(holding.position)
    contracts = abs(holding.position)
    if side is None:
        return PositionValuation(
            ticker=holding.ticker,
            side=None,
            contracts=ZERO,
            cost_basis=holding.exposure,
            average_entry_price=None,
            best_bid=None,
            best_ask=None,
            mark=None,
            mark_source=None,
            market_value=ZERO,
            unrealized_pnl=ZERO,
            unrealized_pnl_pct=None,
            realized_pnl=holding.realized_pnl,
            fees_paid=holding.fees_paid,
        )
    quote = quote or Quote(None, None)
    mark = mark_price(quote, side)
    market_value = contracts * mark.price
    unrealized = market_value - holding.exposure
    return PositionValuation(
        ticker=holding.ticker,
        side=side,
        contracts=contracts,
        cost_basis=holding.exposure,
        average_entry_price=average_entry_price(holding.exposure, contracts),
        best_bid=best_bid(quote, side),
        best_ask=best_ask(quote, side),
        mark=mark.price,
        mark_source=mark.source,
        market_value=market_value,
        unrealized_pnl=unrealized,
        unrealized_pnl_pct=percent(unrealized, holding.exposure),
        realized_pnl=holding.realized_pnl,
        fees_paid=holding.fees_paid,
    )


# --------------------------------------------------------------------------- transfers


@dataclass(frozen=True, slots=True)
class Transfer:
    """A deposit or withdrawal (``GET /portfolio/deposits`` / ``withdrawals``), in dollars."""

    kind: Literal["deposit", "withdrawal"]
    status: str  # pending | applied | failed | returned
    amount: Decimal
    fee: Decimal = ZERO
    created: datetime | None = None
    id: str = ""


def net_transfers(transfers: Iterable[Transfer]) -> Decimal:
    """Money that entered the balance from outside, less what left it.

    Only ``applied`` transfers count (Kalshi: "applied means funds are reflected in
    balance"). A fee is charged to the balance either way: a deposit adds
    ``amount - fee``, a withdrawal removes ``amount + fee``. A transfer is not trading, so
    its fee is not a loss in today's P&L.
    """
    total = ZERO
    for transfer in transfers:
        if transfer.status != "applied":
            continue
        if transfer.kind == "deposit":
            total += transfer.amount - transfer.fee
        else:
            total -= transfer.amount + transfer.fee
    return total


# --------------------------------------------------------------------------- the portfolio


@dataclass(frozen=True, slots=True)
class BaselinePoint:
    """The account's total value at the start of the trading day (or at sign-in, when the
    day began before we knew the account), and the cumulative net transfers then."""

    value: Decimal
    net_transfers: Decimal


def today_pnl(
    total_value: Decimal, baseline: BaselinePoint, net_transfers_now: Decimal
) -> tuple[Decimal, Decimal | None]:
    """Today's P&L in dollars and percent.

    ``$ = total value - baseline value - net transfers since the baseline``, where
    ``net transfers since = cumulative now - cumulative at the baseline`` (a deposit is not a
    gain). ``% = $ / (baseline value + net transfers since)``: the return on the money that
    was at work today; None when that base is not positive.
    """
    since = net_transfers_now - baseline.net_transfers
    pnl = total_value - baseline.value - since
    return pnl, percent(pnl, baseline.value + since)


@dataclass(frozen=True, slots=True)
class PortfolioSummary:
    cash: Decimal
    positions_value: Decimal
    total_value: Decimal
    unrealized_pnl: Decimal
    realized_pnl: Decimal
    fees_paid: Decimal
    position_count: int
    baseline_value: Decimal | None
    net_transfers_since_baseline: Decimal | None
    today_pnl: Decimal | None
    today_pnl_pct: Decimal | None


def summarize_portfolio(
    cash: Decimal,
    positions: Sequence[PositionValuation],
    baseline: BaselinePoint | None = None,
    net_transfers_now: Decimal = ZERO,
) -> PortfolioSummary:
    """The account at a glance.

    cash = the exact balance; positions value = sum of market values; total value = cash +
    positions value; unrealized, realized and fees = sums over the listed (unsettled)
    positions; position count = positions with contracts held. Today's P&L needs a
    baseline (:func:`today_pnl`); without one it is None, never a guess.
    """
    positions_value = sum((p.market_value for p in positions), ZERO)
    total = cash + positions_value
    day_pnl: Decimal | None = None
    day_pct: Decimal | None = None
    since: Decimal | None = None
    if baseline is not None:
        since = net_transfers_now - baseline.net_transfers
        day_pnl, day_pct = today_pnl(total, baseline, net_transfers_now)
    return PortfolioSummary(
        cash=cash,
        positions_value=positions_value,
        total_value=total,
        unrealized_pnl=sum((p.unrealized_pnl for p in positions), ZERO),
        realized_pnl=sum((p.realized_pnl for p in positions), ZERO),
        fees_paid=sum((p.fees_paid for p in positions), ZERO),
        position_count=sum(1 for p in positions if p.is_open),
        baseline_value=baseline.value if baseline is not None else None,
        net_transfers_since_baseline=since,
        today_pnl=day_pnl,
        today_pnl_pct=day_pct,
    )


# --------------------------------------------------------------------------- performance


@dataclass(frozen=True, slots=True)
class FillRecord:
    """One fill (``GET /portfolio/fills``) in YES terms.

    ``book_side`` ``bid`` buys YES (or sells NO), ``ask`` sells YES (or buys NO): with
    Kalshi's netting both directions move one signed position, whichever leg was named.
    """

    ticker: str
    time: datetime
    book_side: Literal["bid", "ask"]
    count: Decimal
    yes_price: Decimal
    fee: Decimal = ZERO
    fill_id: str = ""


@dataclass(frozen=True, slots=True)
class SettlementRecord:
    """One settlement (``GET /portfolio/settlements``); ``revenue`` already in dollars."""

    ticker: str
    time: datetime
    revenue: Decimal
    yes_count: Decimal = ZERO
    no_count: Decimal = ZERO
    yes_cost: Decimal = ZERO
    no_cost: Decimal = ZERO
    fee: Decimal = ZERO

    @property
    def realized_pnl(self) -> Decimal:
        """Payout minus the cost basis of the contracts held at settlement."""
        return self.revenue - self.yes_cost - self.no_cost


def fill_delta(fill: FillRecord) -> Decimal:
    """The fill's change to the signed position: ``+count`` on the bid, ``-count`` on the ask."""
    return fill.count if fill.book_side == "bid" else -fill.count


@dataclass(slots=True)
class _Trip:
    """One round trip in a market: from leaving flat to flat again or settlement."""

    opened_at: datetime
    realized: Decimal = ZERO
    fees: Decimal = ZERO


@dataclass(slots=True)
class _Book:
    position: Decimal = ZERO
    exposure: Decimal = ZERO
    realized: Decimal = ZERO
    fees: Decimal = ZERO
    trip: _Trip | None = None


@dataclass(frozen=True, slots=True)
class ClosedTrade:
    """A round trip that ended, by closing fills (``closed``) or settlement (``settled``)."""

    ticker: str
    opened_at: datetime
    closed_at: datetime
    how: Literal["closed", "settled"]
    realized_pnl: Decimal
    fees: Decimal

    @property
    def net_pnl(self) -> Decimal:
        return self.realized_pnl - self.fees


@dataclass(frozen=True, slots=True)
class CurvePoint:
    """One step of the cumulative realized curve: an event's net amount and the running sum."""

    time: datetime
    ticker: str
    kind: Literal["fill", "settlement"]
    realized_pnl: Decimal
    fee: Decimal
    cumulative_net: Decimal


@dataclass(frozen=True, slots=True)
class Replay:
    """What replaying an account's fills and settlements yields."""

    curve: tuple[CurvePoint, ...]
    trades: tuple[ClosedTrade, ...]
    positions: dict[str, tuple[Decimal, Decimal]]  # ticker -> (signed position, exposure)
    realized_by_ticker: dict[str, Decimal]
    fees_by_ticker: dict[str, Decimal]
    opened_at: dict[str, datetime]  # ticker -> when its open position last left flat


def _close_trip(
    book: _Book, ticker: str, at: datetime, how: Literal["closed", "settled"]
) -> ClosedTrade | None:
    trip, book.trip = book.trip, None
    if trip is None:
        return None
    return ClosedTrade(ticker, trip.opened_at, at, how, trip.realized, trip.fees)


def replay_fills(
    fills: Iterable[FillRecord], settlements: Iterable[SettlementRecord] = ()
) -> Replay:
    """Rebuild each market's position, cost basis and realized P&L from its history.

    Average cost, as Kalshi's exposure behaves: buying adds ``count x price of the side
    bought`` to the cost basis; closing ``q`` of ``|p|`` contracts removes
    ``exposure x q / |p|`` (truncated to $0.000001) and realizes
    ``proceeds - removed cost``, where proceeds are ``q x yes price`` when YES is held and
    ``q x (1 - yes price)`` when NO is. A fill larger than the position closes it and opens
    the other side with the remainder (a flip); its fee is split between the two in
    proportion. A settlement realizes ``revenue - cost basis`` (its own record's figures)
    and ends the round trip. Events are taken in time order; at equal times fills before
    settlements. Fees count when paid (on each fill), so the curve is net of fees.
    """
    events: list[tuple[datetime, int, int, FillRecord | SettlementRecord]] = []
    for index, fill in enumerate(fills):
        events.append((fill.time, 0, index, fill))
    for index, settlement in enumerate(settlements):
        events.append((settlement.time, 1, index, settlement))
    events.sort(key=lambda e: (e[0], e[1], e[2]))

    books: dict[str, _Book] = {}
    curve: list[CurvePoint] = []
    trades: list[ClosedTrade] = []
    cumulative = ZERO
    for when, _, _, event in events:
        book = books.setdefault(event.ticker, _Book())
        if isinstance(event, SettlementRecord):
            realized = event.realized_pnl
            if book.trip is None and (event.yes_count or event.no_count):
                book.trip = _Trip(opened_at=when)  # its fills are older than our history
            if book.trip is not None:
                book.trip.realized += realized
            book.realized += realized
            closed = _close_trip(book, event.ticker, when, "settled")
            if closed is not None:
                trades.append(closed)
            book.position = ZERO
            book.exposure = ZERO
            cumulative += realized
            curve.append(CurvePoint(when, event.ticker, "settlement", realized, ZERO, cumulative))
            continue
        realized, fills_closed = _apply_fill(book, event, when)
        trades.extend(fills_closed)
        book.realized += realized
        book.fees += event.fee
        cumulative += realized - event.fee
        curve.append(CurvePoint(when, event.ticker, "fill", realized, event.fee, cumulative))
    return Replay(
        curve=tuple(curve),
        trades=tuple(trades),
        positions={t: (b.position, b.exposure) for t, b in books.items() if b.position},
        realized_by_ticker={t: b.realized for t, b in books.items()},
        fees_by_ticker={t: b.fees for t, b in books.items()},
        opened_at={t: b.trip.opened_at for t, b in books.items() if b.position and b.trip},
    )


def _apply_fill(book: _Book, fill: FillRecord, when: datetime) -> tuple[Decimal, list[ClosedTrade]]:
    """Apply one fill to ``book``; returns the realized P&L and any round trip it ended."""
    delta = fill_delta(fill)
    closed: list[ClosedTrade] = []
    realized = ZERO
    remaining = delta
    fee_left = fill.fee
    held = book.position
    if held and (held > 0) != (delta > 0):
        quantity = min(abs(delta), abs(held))
        removed = (book.exposure * quantity / abs(held)).quantize(MONEY_QUANTUM, ROUND_FLOOR)
        price = fill.yes_price if held > 0 else ONE - fill.yes_price
        realized = quantity * price - removed
        book.exposure -= removed
        book.position += quantity if held < 0 else -quantity
        remaining = delta + (quantity if held > 0 else -quantity)
        closing_fee = fill.fee if remaining == 0 else fill.fee * quantity / abs(delta)
        closing_fee = closing_fee.quantize(MONEY_QUANTUM, ROUND_FLOOR)
        fee_left = fill.fee - closing_fee
        if book.trip is not None:
            book.trip.realized += realized
            book.trip.fees += closing_fee
        if book.position == 0:
            book.exposure = ZERO
            trade = _close_trip(book, fill.ticker, when, "closed")
            if trade is not None:
                closed.append(trade)
    if remaining:
        price = fill.yes_price if remaining > 0 else ONE - fill.yes_price
        book.exposure += abs(remaining) * price
        book.position += remaining
        if book.trip is None:
            book.trip = _Trip(opened_at=when)
        book.trip.fees += fee_left
    return realized, closed


def max_drawdown(values: Iterable[Decimal], start: Decimal = ZERO) -> Decimal:
    """The largest fall from a running peak to a later value, as a positive amount.

    The peak starts at ``start`` (the curve's origin, 0 for cumulative P&L), so a curve
    that only ever falls has a drawdown equal to its lowest point's depth.
    """
    peak = start
    worst = ZERO
    for value in values:
        if value > peak:
            peak = value
        elif peak - value > worst:
            worst = peak - value
    return worst


def win_rate(trades: Sequence[ClosedTrade]) -> Decimal | None:
    """Share (percent, 0.01) of closed or settled round trips whose realized P&L net of
    fees is positive; None with no closed trip. A break-even trip is not a win."""
    if not trades:
        return None
    wins = sum(1 for t in trades if t.net_pnl > 0)
    return percent(Decimal(wins), Decimal(len(trades)))


@dataclass(slots=True)
class Grouped:
    """Realized figures of one series or category."""

    realized_pnl: Decimal = ZERO
    fees: Decimal = ZERO
    trades: int = 0
    wins: int = 0

    @property
    def net_pnl(self) -> Decimal:
        return self.realized_pnl - self.fees

    @property
    def win_rate(self) -> Decimal | None:
        return percent(Decimal(self.wins), Decimal(self.trades)) if self.trades else None


@dataclass(frozen=True, slots=True)
class Performance:
    curve: tuple[CurvePoint, ...]
    trades: tuple[ClosedTrade, ...]
    realized_pnl: Decimal
    fees: Decimal
    net_pnl: Decimal
    win_rate: Decimal | None
    wins: int
    max_drawdown: Decimal
    by_series: dict[str, Grouped] = field(default_factory=dict)
    by_category: dict[str, Grouped] = field(default_factory=dict)


def performance(
    fills: Iterable[FillRecord],
    settlements: Iterable[SettlementRecord],
    classify: Callable[[str], tuple[str, str]],
) -> Performance:
    """Realized performance over the account's history.

    ``classify(ticker) -> (series, category)`` groups markets (unknown ones: whatever the
    caller returns, e.g. ``("", "")``). Realized P&L and fees are attributed per market
    from the replay (fees of trips still open included), trades and wins per closed round
    trip. The drawdown is that of the cumulative net curve.
    """
    replay = replay_fills(fills, settlements)
    realized = sum(replay.realized_by_ticker.values(), ZERO)
    fees = sum(replay.fees_by_ticker.values(), ZERO)
    by_series: dict[str, Grouped] = {}
    by_category: dict[str, Grouped] = {}
    for ticker in replay.realized_by_ticker:
        series, category = classify(ticker)
        for groups, key in ((by_series, series), (by_category, category)):
            group = groups.setdefault(key, Grouped())
            group.realized_pnl += replay.realized_by_ticker[ticker]
            group.fees += replay.fees_by_ticker[ticker]
    for trade in replay.trades:
        series, category = classify(trade.ticker)
        for groups, key in ((by_series, series), (by_category, category)):
            group = groups[key]
            group.trades += 1
            group.wins += trade.net_pnl > 0
    return Performance(
        curve=replay.curve,
        trades=replay.trades,
        realized_pnl=realized,
        fees=fees,
        net_pnl=realized - fees,
        win_rate=win_rate(replay.trades),
        wins=sum(1 for t in replay.trades if t.net_pnl > 0),
        max_drawdown=max_drawdown(p.cumulative_net for p in replay.curve),
        by_series=by_series,
        by_category=by_category,
    )
