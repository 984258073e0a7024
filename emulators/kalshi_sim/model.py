"""What the simulated exchange is made of: series, events, markets, trades, happenings.

Plain records with no behaviour beyond derived quotes, shared by the catalog, the book,
the lifecycle and the candles (and read by ``rest``, ``ws`` and ``render``), so none of
those imports another just for a type. :class:`Clock` is the one seeded random generator
and the tick counter every part draws from: the same seed and the same sequence of ticks
(and account actions) reproduce the same exchange exactly, because all parts take their
random numbers from it in one fixed order.

Units: prices are integer centi-cents (``4700`` = $0.47), counts integer hundredths
(``300`` = 3.00 contracts). Order books hold bids only, Kalshi style: ``yes`` maps YES bid
price -> size, ``no`` maps NO bid price (NO-leg pricing) -> size.
"""

from __future__ import annotations

import random
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from emulators.kalshi_sim.accounts import Account, Fill, Order, Position, Settlement
from emulators.kalshi_sim.config import SimConfig
from emulators.kalshi_sim.wire import PRICE_ONE

SECOND_US = 1_000_000
MINUTE_US = 60 * SECOND_US
HOUR_US = 60 * MINUTE_US
DAY_US = 24 * HOUR_US

# Market response status -> the filter word that matches it (GET /markets?status=).
STATUS_FILTER = {
    "initialized": "unopened",
    "active": "open",
    "inactive": "paused",
    "closed": "closed",
    "determined": "closed",
    "disputed": "closed",
    "amended": "closed",
    "finalized": "settled",
}
FILTER_WORDS = frozenset(STATUS_FILTER.values())


class Clock:
    """Config, the seeded random generator and exchange time, shared by every part.

    Time is a counter of ticks; ``version`` is bumped on every change to market state
    (response caches key on it).
    """

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        start_s = config.start_time_s if config.start_time_s is not None else time.time()
        self.start_us = int(start_s * 1_000_000) // 1000 * 1000
        self.tick_us = int(config.tick_seconds * 1_000_000)
        self.now_us = self.start_us
        self.tick_count = 0
        self.version = 0

    def new_uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))


# --------------------------------------------------------------------------------------
# Series, events, markets and trades


@dataclass(frozen=True)
class SeriesTemplate:
    ticker: str
    title: str
    category: str
    frequency: str
    kind: str  # temp | crypto | game | econ | combo
    subject: str


@dataclass(slots=True)
class Series:
    template: SeriesTemplate
    created_us: int
    volume: int = 0
    events: list[Event] = field(default_factory=list)
    json: bytes | None = None
    # The fee structure (see shared.domain.fees) and its scheduled changes, oldest first:
    # (change id, fee_type, fee_multiplier as a decimal string, scheduled instant in us).
    fee_type: str = "quadratic"
    fee_multiplier: str = "1"
    fee_changes: list[tuple[str, str, str, int]] = field(default_factory=list)

    @property
    def ticker(self) -> str:
        return self.template.ticker


@dataclass(slots=True)
class Event:
    event_ticker: str
    series: Series
    title: str
    sub_title: str
    mutually_exclusive: bool
    strike_date_us: int | None
    updated_us: int
    markets: list[Market] = field(default_factory=list)


@dataclass(slots=True)
class Trade:
    seq: int
    trade_id: str
    ticker: str
    yes_price: int
    count: int
    taker_outcome_side: str
    created_us: int


@dataclass(slots=True)
class Market:
    seq: int
    ticker: str
    event: Event
    market_id: str
    static: dict[str, Any]  # fields that never change after creation
    step: int
    created_us: int
    open_us: int
    close_us: int
    settlement_timer_s: int
    status: str
    fair: int
    k_bid: int = 1
    k_ask: int = 1
    n_levels: int = 4
    yes: dict[int, int] = field(default_factory=dict)
    no: dict[int, int] = field(default_factory=dict)
    last_price: int = 0
    last_trade_size: int = 0
    prev_yes_bid: int = 0
    prev_yes_ask: int = 0
    prev_price: int = 0
    volume: int = 0
    volume_24h: int = 0
    open_interest: int = 0
    dollar_volume_micro: int = 0
    result: str = ""
    settlement_value: int | None = None
    determination_us: int | None = None
    settlement_us: int | None = None
    updated_us: int = 0
    json: bytes | None = None
    candles: dict[int, deque[list[Any]]] = field(default_factory=dict)
    # Price-time queues of the levels where accounts rest orders: (book, price) -> entries
    # in priority order, each an Order or an int (crowd size, hundredths). A level with no
    # queue is all crowd. The totals in ``yes``/``no`` always include the orders.
    queues: dict[tuple[str, int], list[Order | int]] = field(default_factory=dict)

    @property
    def event_ticker(self) -> str:
        return self.event.event_ticker

    # -- quotes derived from the book (Kalshi's conventions, incl. empty-book ones) --

    def quotes(self) -> tuple[int, int, int, int]:
        """(yes_bid, yes_ask, yes_bid_size, yes_ask_size) in centi-cents / hundredths."""
        if self.status == "initialized":
            return 0, 0, 0, 0
        best_yes = max(self.yes) if self.yes else 0
        best_no = max(self.no) if self.no else 0
        yes_bid = best_yes
        yes_ask = PRICE_ONE - best_no if best_no else PRICE_ONE
        return (
            yes_bid,
            yes_ask,
            self.yes.get(best_yes, 0),
            self.no.get(best_no, 0),
        )

    def touch(self) -> None:
        self.json = None


# --------------------------------------------------------------------------------------
# What happened on a tick (the WebSocket hub renders these)


@dataclass(slots=True)
class BookDelta:
    market: Market
    side: str
    price: int
    delta: int
    ts_us: int


@dataclass(slots=True)
class TradePrint:
    market: Market
    trade: Trade


@dataclass(slots=True)
class TickerChange:
    market: Market
    ts_us: int


@dataclass(slots=True)
class Lifecycle:
    market: Market
    payload: dict[str, Any]


@dataclass(slots=True)
class EventCreated:
    event: Event


@dataclass(slots=True)
class FillNotice:
    account: Account
    fill: Fill


@dataclass(slots=True)
class PositionNotice:
    account: Account
    position: Position


@dataclass(slots=True)
class OrderNotice:
    """An account's order was created, filled, amended, decreased or canceled."""

    order: Order


@dataclass(slots=True)
class SettlementNotice:
    account: Account
    settlement: Settlement


Happening = (
    BookDelta
    | TradePrint
    | TickerChange
    | Lifecycle
    | EventCreated
    | FillNotice
    | PositionNotice
    | SettlementNotice
    | OrderNotice
)
