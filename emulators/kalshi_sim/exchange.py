"""The living exchange: series, events, markets, order books, trades, lifecycle, candles.

One seeded :class:`random.Random` drives everything, and time is a counter of ticks, so
the same seed and the same sequence of ticks (and account actions) reproduce the same
exchange exactly. :meth:`Exchange.tick` returns the things that happened as a list of
:class:`Happening` records; the WebSocket hub turns them into frames.

Units: prices are integer centi-cents (``4700`` = $0.47), counts integer hundredths
(``300`` = 3.00 contracts). Order books hold bids only, Kalshi style: ``yes`` maps YES bid
price -> size, ``no`` maps NO bid price (NO-leg pricing) -> size.
"""

from __future__ import annotations

import heapq
import random
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from emulators.kalshi_sim import wire
from emulators.kalshi_sim.accounts import Account, AccountBook, Fill, Position, Settlement
from emulators.kalshi_sim.config import MAX_MARKETS, SimConfig
from emulators.kalshi_sim.wire import COUNT_ONE, PRICE_ONE

_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
SECOND_US = 1_000_000
MINUTE_US = 60 * SECOND_US
HOUR_US = 60 * MINUTE_US
DAY_US = 24 * HOUR_US
_CLOSE_AFTER_EVENT = "This market will close and expire after the event occurs."
_CLOSE_AFTER_WINNER = "This market will close and expire after a winner is declared."
CANDLE_PERIODS = {1: 240, 60: 24 * 14, 1440: 120}  # minutes -> buckets kept

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


# --------------------------------------------------------------------------------------
# Catalog of series the exchange lists


@dataclass(frozen=True)
class SeriesTemplate:
    ticker: str
    title: str
    category: str
    frequency: str
    kind: str  # temp | crypto | game | econ | combo
    subject: str


_TEMPLATES = [
    SeriesTemplate(
        "KXHIGHNY",
        "Highest temperature in NYC",
        "Climate and Weather",
        "daily",
        "temp",
        "New York City",
    ),
    SeriesTemplate(
        "KXHIGHCHI",
        "Highest temperature in Chicago",
        "Climate and Weather",
        "daily",
        "temp",
        "Chicago",
    ),
    SeriesTemplate(
        "KXHIGHMIA", "Highest temperature in Miami", "Climate and Weather", "daily", "temp", "Miami"
    ),
    SeriesTemplate("KXBTCD", "Bitcoin price range", "Crypto", "hourly", "crypto", "Bitcoin"),
    SeriesTemplate("KXETHD", "Ethereum price range", "Crypto", "hourly", "crypto", "Ethereum"),
    SeriesTemplate(
        "KXNBAGAME", "Professional basketball game", "Sports", "custom", "game", "basketball"
    ),
    SeriesTemplate(
        "KXMLBGAME", "Professional baseball game", "Sports", "custom", "game", "baseball"
    ),
    SeriesTemplate("KXWTAMATCH", "WTA tennis match", "Sports", "custom", "game", "tennis"),
    SeriesTemplate("KXCPI", "CPI month over month", "Economics", "monthly", "econ", "CPI"),
    SeriesTemplate("KXPAYROLLS", "Nonfarm payrolls", "Economics", "monthly", "econ", "payrolls"),
    SeriesTemplate(
        "KXMVESPORTSMULTIGAMEEXTENDED", "Multi-game combos", "Sports", "custom", "combo", "combo"
    ),
]
_TEAMS = [
    ("NYK", "New York"),
    ("BOS", "Boston"),
    ("LAL", "Los Angeles L"),
    ("SAS", "San Antonio"),
    ("MIA", "Miami"),
    ("CHI", "Chicago"),
    ("DEN", "Denver"),
    ("PHX", "Phoenix"),
    ("HOU", "Houston"),
    ("LAA", "Los Angeles A"),
    ("SEA", "Seattle"),
    ("ATL", "Atlanta"),
]
_PLAYERS = [
    ("LEP", "Varvara Lepchenko"),
    ("JIM", "Jimenez Kasintseva"),
    ("SWI", "Iga Swiatek"),
    ("GAU", "Coco Gauff"),
    ("SAB", "Aryna Sabalenka"),
    ("RYB", "Elena Rybakina"),
]


@dataclass(slots=True)
class Series:
    template: SeriesTemplate
    created_us: int
    volume: int = 0
    events: list[Event] = field(default_factory=list)
    json: bytes | None = None

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
)


class Exchange:
    """All exchange state. Not thread-safe: one event loop owns it."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        start_s = config.start_time_s if config.start_time_s is not None else time.time()
        self.start_us = int(start_s * 1_000_000) // 1000 * 1000
        self.tick_us = int(config.tick_seconds * 1_000_000)
        self.now_us = self.start_us
        self.tick_count = 0
        # Bumped on every change to market state; response caches key on it.
        self.version = 0
        self.accounts = AccountBook(config.seed)
        self.series: dict[str, Series] = {}
        self.events: dict[str, Event] = {}
        self.event_list: list[Event] = []
        self.markets: dict[str, Market] = {}
        self.market_list: list[Market] = []  # creation order == pagination order
        self.trades: list[Trade] = []
        self.trades_by_ticker: dict[str, list[Trade]] = {}
        self._trade_seq = 0
        self._schedule: list[tuple[int, int, int, str]] = []  # (when_us, n, market seq, kind)
        self._schedule_n = 0
        self._active: list[Market] = []
        self._active_dirty = True
        self._event_counter: dict[str, int] = {}
        self._build(config.n_markets)

    # ------------------------------------------------------------------ ids and time

    def new_uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    @property
    def now_ms(self) -> int:
        return self.now_us // 1000

    def _date_code(self, when_us: int) -> str:
        t = time.gmtime(when_us // SECOND_US)
        return f"{t.tm_year % 100:02d}{_MONTHS[t.tm_mon - 1]}{t.tm_mday:02d}"

    # ------------------------------------------------------------------ generation

    def _build(self, n_markets: int) -> None:
        rng = self.rng
        for template in _TEMPLATES:
            created = self.start_us - rng.randint(30, 400) * DAY_US
            self.series[template.ticker] = Series(template=template, created_us=created)
        kinds = [s for s in self.series.values() if s.template.kind != "combo"]
        combo = self.series["KXMVESPORTSMULTIGAMEEXTENDED"]
        i = 0
        while len(self.market_list) < n_markets:
            remaining = n_markets - len(self.market_list)
            if i % 9 == 8 and len(self.market_list) > 20:
                self._new_event(combo, remaining, at_start=True)
            else:
                self._new_event(kinds[i % len(kinds)], remaining, at_start=True)
            i += 1

    def _schedule_at(self, when_us: int, market: Market, kind: str) -> None:
        self._schedule_n += 1
        heapq.heappush(self._schedule, (when_us, self._schedule_n, market.seq, kind))

    def _new_event(self, series: Series, max_markets: int, *, at_start: bool) -> Event:
        rng = self.rng
        t = series.template
        now = self.now_us
        # Lifecycle plan for the event's markets.
        if at_start:
            plan = rng.choices(
                ["upcoming", "long", "short", "determined", "finalized"],
                weights=[8, 66, 16, 5, 5],
            )[0]
        else:
            plan = rng.choice(["upcoming_short", "upcoming"])
        if plan in ("upcoming", "upcoming_short"):
            created = now - rng.randint(60, 7200) * SECOND_US if at_start else now
            open_us = now + rng.randint(20, 600) * SECOND_US
            if plan == "upcoming_short":
                close_us = open_us + rng.randint(120, 1800) * SECOND_US
            else:
                close_us = open_us + rng.randint(1, 48) * HOUR_US
        elif plan == "long":
            created = now - rng.randint(1, 120) * HOUR_US
            open_us = created + rng.randint(0, 3600) * SECOND_US
            open_us = min(open_us, now - SECOND_US)
            close_us = now + rng.randint(2, 14 * 24) * HOUR_US
        elif plan == "short":
            created = now - rng.randint(1, 48) * HOUR_US
            open_us = created + rng.randint(0, 600) * SECOND_US
            close_us = now + rng.randint(30, 900) * SECOND_US
        elif plan == "determined":
            close_us = now - rng.randint(60, 1800) * SECOND_US
            created = close_us - rng.randint(2, 48) * HOUR_US
            open_us = created + rng.randint(0, 600) * SECOND_US
        else:  # finalized
            close_us = now - rng.randint(1, 48) * HOUR_US
            created = close_us - rng.randint(2, 72) * HOUR_US
            open_us = created + rng.randint(0, 600) * SECOND_US
        created = created // 1000 * 1000 + rng.randint(0, 999)
        open_us = open_us // SECOND_US * SECOND_US
        close_us = (
            close_us // MINUTE_US * MINUTE_US
            if plan in ("long", "upcoming")
            else close_us // SECOND_US * SECOND_US
        )

        n = self._event_counter.get(t.ticker, 0) + 1
        self._event_counter[t.ticker] = n
        code = self._date_code(close_us)
        if t.kind == "game":
            a, b = rng.sample(_TEAMS if t.subject != "tennis" else _PLAYERS, 2)
            event_ticker = f"{t.ticker}-{code}{a[0]}{b[0]}{n}"
            title = f"{a[1]} vs {b[1]}"
            sub_title = f"{a[0]} vs {b[0]} ({code})"
            exclusive = True
        elif t.kind == "combo":
            event_ticker = (
                f"{t.ticker}-S{self.start_us // SECOND_US % 10000:04d}{rng.getrandbits(40):010X}"
            )
            title = "Multi-game combo"
            sub_title = ""
            exclusive = False
        else:
            event_ticker = f"{t.ticker}-{code}{'' if n == 1 else f'N{n}'}"
            title = f"{t.title} on {code}"
            sub_title = f"On {code}"
            exclusive = t.kind == "temp"
        event = Event(
            event_ticker=event_ticker,
            series=series,
            title=title,
            sub_title=sub_title,
            mutually_exclusive=exclusive,
            strike_date_us=close_us if t.kind in ("temp", "econ") else None,
            updated_us=created,
        )
        series.events.append(event)
        self.events[event_ticker] = event
        self.event_list.append(event)
        specs = self._market_specs(t, event, max_markets)
        settlement_timer = (
            rng.choice([60, 120, 300, 600]) if plan != "long" else rng.choice([300, 1800, 3600])
        )
        for suffix, static, step in specs:
            market = self._new_market(
                event, suffix, static, step, created, open_us, close_us, settlement_timer, plan
            )
            event.markets.append(market)
        return event

    def _market_specs(
        self, t: SeriesTemplate, event: Event, max_markets: int
    ) -> list[tuple[str, dict[str, Any], int]]:
        rng = self.rng
        specs: list[tuple[str, dict[str, Any], int]] = []
        if t.kind == "temp":
            base = rng.randint(60, 92)
            specs.append(
                (
                    f"T{base}",
                    {
                        "strike_type": "less",
                        "cap_strike": base,
                        "yes_sub_title": f"{base - 1}° or below",
                        "no_sub_title": f"{base - 1}° or below",
                    },
                    100,
                )
            )
            for j in range(4):
                lo = base + 2 * j
                specs.append(
                    (
                        f"B{lo}.5",
                        {
                            "strike_type": "between",
                            "floor_strike": lo,
                            "cap_strike": lo + 1,
                            "yes_sub_title": f"{lo}° to {lo + 1}°",
                            "no_sub_title": f"{lo}° to {lo + 1}°",
                        },
                        100,
                    )
                )
            top = base + 8
            specs.append(
                (
                    f"T{top}",
                    {
                        "strike_type": "greater",
                        "floor_strike": top,
                        "yes_sub_title": f"{top + 1}° or above",
                        "no_sub_title": f"{top + 1}° or above",
                    },
                    100,
                )
            )
            for _suffix, static, _step in specs:
                static["title"] = (
                    f"Will the high temp in {t.subject} be {static['yes_sub_title']} "
                    f"on {event.sub_title[3:]}?"
                )
                static["early_close_condition"] = (
                    "This market will close and expire early if the event occurs."
                )
        elif t.kind == "crypto":
            center = rng.randint(60, 120) * 1000
            for j in range(-3, 5):
                strike = center + j * 500 - 0.01
                static = {
                    "strike_type": "greater",
                    "floor_strike": strike,
                    "yes_sub_title": f"${strike + 0.01:,.0f} or above",
                    "no_sub_title": f"${strike + 0.01:,.0f} or above",
                    "title": f"{t.subject} price on {event.sub_title[3:]}?",
                    "early_close_condition": _CLOSE_AFTER_EVENT,
                }
                specs.append((f"T{strike:.2f}", static, 100))
        elif t.kind == "game":
            names = event.title.split(" vs ")
            codes = event.sub_title.split(" (")[0].split(" vs ")
            for name, code in zip(names, codes, strict=True):
                static = {
                    "strike_type": "structured",
                    "custom_strike": {f"{t.subject}_competitor": self.new_uuid()},
                    "yes_sub_title": name,
                    "no_sub_title": name,
                    "title": f"Will {name} win the {event.title} {t.subject} game?",
                    "early_close_condition": _CLOSE_AFTER_WINNER,
                    "primary_participant_key": f"{t.subject}_competitor",
                }
                specs.append((code, static, 100))
        elif t.kind == "econ":
            base_tenths = rng.randint(0, 4)
            for j in range(5):
                strike_pct = (base_tenths + j) / 10
                static = {
                    "strike_type": "greater",
                    "floor_strike": strike_pct,
                    "subtitle": f"Above {strike_pct}%",
                    "yes_sub_title": f"Above {strike_pct}%",
                    "no_sub_title": f"Above {strike_pct}%",
                    "title": f"{t.subject} above {strike_pct}% on {event.sub_title[3:]}?",
                    "early_close_condition": "This market will not close early.",
                }
                specs.append((f"T{strike_pct}", static, 100))
        else:  # combo: legs drawn from listed game markets
            games = [m for m in self.market_list if m.event.series.template.kind == "game"]
            for _ in range(3):
                legs = rng.sample(games, 2) if len(games) >= 2 else []
                legs_title = ",".join(f"yes {leg.static['yes_sub_title']}" for leg in legs)
                legs_title = legs_title or "combo"
                static = {
                    "strike_type": "custom",
                    "custom_strike": {
                        "Associated Events": ",".join(leg.event_ticker for leg in legs),
                        "Associated Market Sides": ",".join("yes" for _ in legs),
                        "Associated Markets": ",".join(leg.ticker for leg in legs),
                        "Multivariate Event Ticker": event.event_ticker,
                    },
                    "mve_collection_ticker": f"{t.ticker}-R",
                    "mve_selected_legs": [
                        {
                            "event_ticker": leg.event_ticker,
                            "market_ticker": leg.ticker,
                            "side": "yes",
                        }
                        for leg in legs
                    ],
                    "is_provisional": True,
                    "yes_sub_title": legs_title,
                    "no_sub_title": legs_title,
                    "title": legs_title,
                }
                specs.append((f"{rng.getrandbits(44):011X}", static, 10))
        return specs[: max(1, max_markets)]

    def _new_market(
        self,
        event: Event,
        suffix: str,
        static: dict[str, Any],
        step: int,
        created: int,
        open_us: int,
        close_us: int,
        settlement_timer: int,
        plan: str,
    ) -> Market:
        rng = self.rng
        ticker = f"{event.event_ticker}-{suffix}"
        while ticker in self.markets:  # never list two markets under one ticker
            ticker += "X"
        kind = event.series.template.kind
        latest = close_us + (14 * DAY_US if kind == "game" else 0)
        static = dict(static)
        static.setdefault(
            "rules_primary",
            f"If {static['yes_sub_title']} for {event.title}, then the market resolves to Yes.",
        )
        static["rules_secondary"] = (
            "If the outcome cannot be determined from the settlement source, the market "
            "resolves to a fair price in accordance with the rules."
        )
        static["price_level_structure"] = "linear_cent" if step == 100 else "deci_cent"
        static["price_ranges"] = [{"end": "1.0000", "start": "0.0000", "step": wire.price(step)}]
        static["market_type"] = "binary"
        static["can_close_early"] = True
        static["notional_value_dollars"] = "1.0000"
        static["liquidity_dollars"] = "0.0000"
        static["expiration_value"] = ""
        static["created_time"] = wire.rfc3339_us(created)
        static["open_time"] = wire.rfc3339_us(open_us)
        static["close_time"] = wire.rfc3339_us(close_us)
        static["expiration_time"] = wire.rfc3339_us(latest)
        static["latest_expiration_time"] = wire.rfc3339_us(latest)
        static["expected_expiration_time"] = wire.rfc3339_us(
            close_us + rng.choice([0, 0, 3600]) * SECOND_US
        )
        if kind != "combo":
            static["occurrence_datetime"] = static["expected_expiration_time"]
        static["settlement_timer_seconds"] = settlement_timer
        fair = rng.randint(3, 97) * PRICE_ONE // 100
        market = Market(
            seq=len(self.market_list),
            ticker=ticker,
            event=event,
            market_id=self.new_uuid(),
            static=static,
            step=step,
            created_us=created,
            open_us=open_us,
            close_us=close_us,
            settlement_timer_s=settlement_timer,
            status="initialized",
            fair=fair,
            n_levels=rng.randint(2, 6),
            updated_us=max(created, min(open_us, self.now_us)),
        )
        self.markets[ticker] = market
        self.market_list.append(market)
        now = self.now_us
        if open_us > now:
            self._schedule_at(open_us, market, "open")
        elif close_us > now:
            market.status = "active"
            market.volume = rng.randint(0, 50_000) * COUNT_ONE
            market.volume_24h = market.volume // rng.randint(1, 5)
            market.open_interest = market.volume // rng.randint(2, 4)
            market.last_price = fair
            market.prev_price = fair
            self._reshape(market, [], now)
            market.prev_yes_bid, market.prev_yes_ask, _, _ = market.quotes()
            self._schedule_at(close_us, market, "close")
        else:
            market.status = "closed"
            market.volume = rng.randint(0, 20_000) * COUNT_ONE
            market.open_interest = market.volume // 3
            market.last_price = fair
            determination = close_us + rng.randint(5, 60) * SECOND_US
            if plan == "finalized" or determination + settlement_timer * SECOND_US <= now:
                self._determine(market, [], determination)
                self._finalize(market, [], determination + settlement_timer * SECOND_US)
            elif determination <= now:
                self._determine(market, [], determination)
                finalize_at = now + rng.randint(30, 600) * SECOND_US
                self._schedule_at(finalize_at, market, "settle")
            else:
                self._schedule_at(determination, market, "determine")
        self._active_dirty = True
        return market

    # ------------------------------------------------------------------ the book

    def _reshape(self, market: Market, out: list[Happening], ts: int) -> None:
        """Move the book toward its target shape around ``fair``, emitting signed deltas."""
        rng = self.rng
        step = market.step
        target_yes: dict[int, int] = {}
        target_no: dict[int, int] = {}
        for i in range(market.n_levels):
            p = market.fair - (market.k_bid + i) * step
            if p > 0:
                target_yes[p] = market.yes.get(p) or self._random_size()
            q = (PRICE_ONE - market.fair) - (market.k_ask + i) * step
            if q > 0:
                target_no[q] = market.no.get(q) or self._random_size()
        self._apply_target(market, "yes", market.yes, target_yes, out, ts)
        self._apply_target(market, "no", market.no, target_no, out, ts)
        del rng

    def _random_size(self) -> int:
        size = self.rng.randint(1, 400) * COUNT_ONE
        if self.rng.random() < 0.1:
            size += self.rng.randint(1, 99)
        return size

    @staticmethod
    def _apply_target(
        market: Market,
        side: str,
        book: dict[int, int],
        target: dict[int, int],
        out: list[Happening],
        ts: int,
    ) -> None:
        for price in sorted(set(book) | set(target)):
            old = book.get(price, 0)
            new = target.get(price, 0)
            if old == new:
                continue
            if new:
                book[price] = new
            else:
                del book[price]
            out.append(BookDelta(market, side, price, new - old, ts))

    def _change_level(
        self, market: Market, side: str, price: int, delta: int, out: list[Happening], ts: int
    ) -> None:
        book = market.yes if side == "yes" else market.no
        new = book.get(price, 0) + delta
        if new <= 0:
            delta = -book.get(price, 0)
            book.pop(price, None)
        else:
            book[price] = new
        if delta:
            out.append(BookDelta(market, side, price, delta, ts))

    def _clear_book(self, market: Market, out: list[Happening], ts: int) -> None:
        self._apply_target(market, "yes", market.yes, {}, out, ts)
        self._apply_target(market, "no", market.no, {}, out, ts)

    # ------------------------------------------------------------------ trading

    def _print_trade(
        self,
        market: Market,
        yes_price: int,
        count: int,
        outcome: str,
        ts: int,
        out: list[Happening],
    ) -> Trade:
        self._trade_seq += 1
        trade = Trade(
            seq=self._trade_seq,
            trade_id=self.new_uuid(),
            ticker=market.ticker,
            yes_price=yes_price,
            count=count,
            taker_outcome_side=outcome,
            created_us=ts,
        )
        self.trades.append(trade)
        self.trades_by_ticker.setdefault(market.ticker, []).append(trade)
        market.last_price = yes_price
        market.last_trade_size = count
        market.volume += count
        market.volume_24h += count
        market.dollar_volume_micro += yes_price * count
        market.event.series.volume += count
        if self.rng.random() < 0.6:
            market.open_interest += count
        else:
            market.open_interest = max(0, market.open_interest - count)
        self._record_candle(market, ts, trade_price=yes_price, volume=count)
        out.append(TradePrint(market, trade))
        return trade

    def _take(
        self, market: Market, outcome: str, want: int, ts: int, out: list[Happening]
    ) -> tuple[int, int] | None:
        """A taker order for ``outcome`` against the best opposite bid; (yes_price, count)."""
        if outcome == "yes":  # lifts the YES ask == best NO bid
            if not market.no:
                return None
            level = max(market.no)
            size = market.no[level]
            count = min(want, size)
            self._change_level(market, "no", level, -count, out, ts)
            return PRICE_ONE - level, count
        if not market.yes:
            return None
        level = max(market.yes)
        count = min(want, market.yes[level])
        self._change_level(market, "yes", level, -count, out, ts)
        return level, count

    def account_fill(
        self, account: Account, out: list[Happening], market: Market | None = None
    ) -> Fill | None:
        """Trade once on ``account``'s behalf (a taker order against the book)."""
        self.version += 1
        rng = account.rng
        if market is None:
            active = self.active_markets()
            candidates = [m for m in active if m.yes and m.no]
            if not candidates:
                return None
            market = candidates[rng.randrange(len(candidates))]
        if market.status != "active" or not market.yes or not market.no:
            return None
        position = account.positions.get(market.ticker)
        held = position.position if position else 0
        want = rng.randint(1, 10) * COUNT_ONE
        if held and rng.random() < 0.35:
            action = "sell"
            side = "yes" if held > 0 else "no"
            want = min(want, abs(held))
        else:
            action = "buy"
            side = ("yes" if held > 0 else "no") if held else rng.choice(["yes", "no"])
        outcome = "yes" if (action, side) in (("buy", "yes"), ("sell", "no")) else "no"
        ts = self.now_us + rng.randint(1, 400)
        taken = self._take(market, outcome, want, ts, out)
        if taken is None:
            return None
        yes_price, count = taken
        trade = self._print_trade(market, yes_price, count, outcome, ts, out)
        fill, pos = account.apply_taker_fill(
            ticker=market.ticker,
            event_ticker=market.event_ticker,
            action=action,
            side=side,
            count=count,
            yes_price=yes_price,
            now_us=ts,
            trade_id=trade.trade_id,
        )
        out.append(FillNotice(account, fill))
        out.append(PositionNotice(account, pos))
        out.append(TickerChange(market, ts))
        market.touch()
        return fill

    # ------------------------------------------------------------------ lifecycle

    def _determine(self, market: Market, out: list[Happening], ts: int) -> None:
        rng = self.rng
        market.status = "determined"
        if rng.random() < 0.03:  # void: settles at a fair price, reported as scalar
            market.result = "scalar"
            market.settlement_value = market.fair // 100 * 100
        elif rng.random() < market.fair / PRICE_ONE:
            market.result = "yes"
            market.settlement_value = PRICE_ONE
        else:
            market.result = "no"
            market.settlement_value = 0
        market.determination_us = ts
        market.updated_us = ts
        self._clear_book(market, out, ts)
        market.touch()
        out.append(
            Lifecycle(
                market,
                {
                    "event_type": "determined",
                    "market_ticker": market.ticker,
                    "result": market.result,
                    "determination_ts": ts // SECOND_US,
                    "settlement_value": wire.price(market.settlement_value),
                },
            )
        )

    def _finalize(self, market: Market, out: list[Happening], ts: int) -> None:
        market.status = "finalized"
        market.settlement_us = ts
        market.updated_us = ts
        market.touch()
        out.append(
            Lifecycle(
                market,
                {
                    "event_type": "settled",
                    "market_ticker": market.ticker,
                    "settled_ts": ts // SECOND_US,
                },
            )
        )
        value = market.settlement_value or 0
        for account in self.accounts.all():
            settled = account.settle(
                ticker=market.ticker, result=market.result, value_centi=value, now_us=ts
            )
            if settled is not None:
                settlement, position = settled
                out.append(SettlementNotice(account, settlement))
                out.append(PositionNotice(account, position))

    def _transition(self, market: Market, kind: str, out: list[Happening]) -> None:
        now = self.now_us
        if kind == "open" and market.status == "initialized":
            market.status = "active"
            market.updated_us = now
            market.last_price = 0
            self._reshape(market, out, now)
            out.append(TickerChange(market, now))
            self._schedule_at(market.close_us, market, "close")
        elif kind == "close" and market.status in ("active", "inactive"):
            market.status = "closed"
            market.updated_us = now
            self._clear_book(market, out, now)
            out.append(TickerChange(market, now))
            self._schedule_at(now + self.rng.randint(5, 60) * SECOND_US, market, "determine")
        elif kind == "determine" and market.status == "closed":
            self._determine(market, out, now)
            self._schedule_at(now + market.settlement_timer_s * SECOND_US, market, "settle")
        elif kind == "settle" and market.status == "determined":
            self._finalize(market, out, now)
            self._maybe_list_new_event(market, out)
        elif kind == "reactivate" and market.status == "inactive":
            market.status = "active"
            market.updated_us = now
            self._reshape(market, out, now)
            out.append(
                Lifecycle(
                    market,
                    {
                        "event_type": "activated",
                        "market_ticker": market.ticker,
                        "is_deactivated": False,
                    },
                )
            )
            out.append(TickerChange(market, now))
        else:
            return
        market.touch()
        self._active_dirty = True

    def _maybe_list_new_event(self, settled: Market, out: list[Happening]) -> None:
        """Keep the exchange alive: a settled event is often followed by a new one."""
        series = settled.event.series
        if series.template.kind == "combo" or settled is not settled.event.markets[-1]:
            return
        limit = min(MAX_MARKETS, 2 * self.config.n_markets)
        if len(self.market_list) >= limit or self.rng.random() < 0.3:
            return
        event = self._new_event(series, limit - len(self.market_list), at_start=False)
        out.append(EventCreated(event))
        for market in event.markets:
            out.append(Lifecycle(market, self.created_payload(market)))

    def created_payload(self, market: Market) -> dict[str, Any]:
        s = market.static
        return {
            "event_type": "created",
            "market_ticker": market.ticker,
            "exchange_index": 0,
            "open_ts": market.open_us // SECOND_US,
            "close_ts": market.close_us // SECOND_US,
            "price_level_structure": s["price_level_structure"],
            "price_ranges": s["price_ranges"],
            "additional_metadata": {
                "name": s["title"],
                "title": s["title"],
                "yes_sub_title": s["yes_sub_title"],
                "no_sub_title": s["no_sub_title"],
                "rules_primary": s["rules_primary"],
                "rules_secondary": s["rules_secondary"],
                "can_close_early": s["can_close_early"],
                "event_ticker": market.event_ticker,
                "expected_expiration_ts": market.close_us // SECOND_US,
                "strike_type": s.get("strike_type", ""),
                "floor_strike": s.get("floor_strike"),
                "cap_strike": s.get("cap_strike"),
                "custom_strike": s.get("custom_strike"),
            },
        }

    # ------------------------------------------------------------------ the clock

    def active_markets(self) -> list[Market]:
        if self._active_dirty:
            self._active = [m for m in self.market_list if m.status == "active"]
            self._active_dirty = False
        return self._active

    def tick(self, steps: int = 1) -> list[Happening]:
        self.version += 1
        out: list[Happening] = []
        for _ in range(steps):
            self._tick_once(out)
        return out

    def resume(self, until_us: int) -> list[Happening]:
        """Bring a world loaded from disk up to ``until_us`` (the wall clock at restart).

        While the simulator was stopped nothing traded, but time went on: every lifecycle
        step that fell due in the gap (close, determine, settle, reopen, new listings)
        happens now, in order and at its own time, so a market that should have closed is
        closed. Books and volumes stand still over the gap. A clock already ahead of
        ``until_us`` (a manual clock, ticked fast) is left where it is: time never goes back.
        """
        self.version += 1
        out: list[Happening] = []
        while self._schedule and self._schedule[0][0] <= until_us:
            when, _, seq, kind = heapq.heappop(self._schedule)
            self.now_us = max(self.now_us, when)
            self._transition(self.market_list[seq], kind, out)
        if until_us > self.now_us:
            skipped = (until_us - self.now_us) // self.tick_us
            self.tick_count += skipped
            self.now_us += skipped * self.tick_us
        return out

    def _tick_once(self, out: list[Happening]) -> None:
        rng = self.rng
        self.tick_count += 1
        self.now_us += self.tick_us
        now = self.now_us
        while self._schedule and self._schedule[0][0] <= now:
            _, _, seq, kind = heapq.heappop(self._schedule)
            self._transition(self.market_list[seq], kind, out)
        active = self.active_markets()
        if active:
            k = max(1, round(len(active) * self.config.market_activity))
            for market in rng.sample(active, min(k, len(active))):
                self._walk(market, out, now + rng.randint(0, self.tick_us // 2))
            if rng.random() < 0.01:
                self._pause(active[rng.randrange(len(active))], out)
        for account in self.accounts.all():
            if account.rng.random() < self.config.account_fill_rate:
                self.account_fill(account, out)

    def _pause(self, market: Market, out: list[Happening]) -> None:
        now = self.now_us
        if market.close_us - now < 5 * MINUTE_US:
            return
        market.status = "inactive"
        market.updated_us = now
        market.touch()
        self._active_dirty = True
        out.append(
            Lifecycle(
                market,
                {
                    "event_type": "deactivated",
                    "market_ticker": market.ticker,
                    "is_deactivated": True,
                },
            )
        )
        self._schedule_at(now + self.rng.randint(10, 120) * SECOND_US, market, "reactivate")

    def _walk(self, market: Market, out: list[Happening], ts: int) -> None:
        """One bounded random-walk step of a market's fair value, book and trades."""
        rng = self.rng
        before = (market.quotes(), market.last_price, market.volume, market.open_interest)
        step = market.step
        r = rng.random()
        if r < 0.3:
            market.fair = min(PRICE_ONE - 2 * step, market.fair + step)
        elif r < 0.6:
            market.fair = max(2 * step, market.fair - step)
        if rng.random() < 0.15:
            market.k_bid = rng.randint(1, 2)
            market.k_ask = rng.randint(1, 2)
        self._reshape(market, out, ts)
        if rng.random() < 0.4:
            side = rng.choice(["yes", "no"])
            book = market.yes if side == "yes" else market.no
            if book:
                level = rng.choice(sorted(book))
                self._change_level(market, side, level, rng.randint(-50, 80) * COUNT_ONE, out, ts)
        if rng.random() < self.config.trade_probability:
            outcome = rng.choice(["yes", "no"])
            want = rng.randint(1, 40) * COUNT_ONE + (
                rng.randint(1, 99) if rng.random() < 0.1 else 0
            )
            taken = self._take(market, outcome, want, ts, out)
            if taken is not None:
                self._print_trade(market, taken[0], taken[1], outcome, ts, out)
        self._record_candle(market, ts)
        after = (market.quotes(), market.last_price, market.volume, market.open_interest)
        if after != before:
            out.append(TickerChange(market, ts))
        market.touch()

    # ------------------------------------------------------------------ candles

    def _record_candle(
        self, market: Market, ts: int, trade_price: int | None = None, volume: int = 0
    ) -> None:
        yes_bid, yes_ask, _, _ = market.quotes()
        for minutes, keep in CANDLE_PERIODS.items():
            period = minutes * MINUTE_US
            end = (ts // period + 1) * period // SECOND_US
            buckets = market.candles.get(minutes)
            if buckets is None:
                buckets = deque(maxlen=keep)
                market.candles[minutes] = buckets
            if not buckets or buckets[-1][0] != end:
                # [end, yb o h l c, ya o h l c, p o h l c sum n, volume, oi]
                buckets.append(
                    [
                        end,
                        yes_bid,
                        yes_bid,
                        yes_bid,
                        yes_bid,
                        yes_ask,
                        yes_ask,
                        yes_ask,
                        yes_ask,
                        None,
                        None,
                        None,
                        None,
                        0,
                        0,
                        0,
                        market.open_interest,
                    ]
                )
            c = buckets[-1]
            c[2] = max(c[2], yes_bid)
            c[3] = min(c[3], yes_bid)
            c[4] = yes_bid
            c[6] = max(c[6], yes_ask)
            c[7] = min(c[7], yes_ask)
            c[8] = yes_ask
            if trade_price is not None:
                if c[9] is None:
                    c[9] = c[10] = c[11] = trade_price
                c[10] = max(c[10], trade_price)
                c[11] = min(c[11], trade_price)
                c[12] = trade_price
                c[13] += trade_price * volume
                c[14] += volume
            c[15] += volume
            c[16] = market.open_interest
