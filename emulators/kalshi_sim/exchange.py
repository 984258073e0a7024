"""The living exchange: a small facade over the catalog, the book, the lifecycle and candles.

One seeded :class:`random.Random` (on the shared :class:`~emulators.kalshi_sim.model.Clock`)
drives everything, and time is a counter of ticks, so the same seed and the same sequence
of ticks (and account actions) reproduce the same exchange exactly. :meth:`Exchange.tick`
returns the things that happened as a list of happenings
(:data:`~emulators.kalshi_sim.model.Happening`); the WebSocket hub turns them into frames.

The parts: :mod:`~emulators.kalshi_sim.catalog` (series, events, markets),
:mod:`~emulators.kalshi_sim.book` (order books, trades),
:mod:`~emulators.kalshi_sim.lifecycle` (open/close/settle, resume after a restart) and
:mod:`~emulators.kalshi_sim.candles` (history). The facade only wires them together and
runs a tick in their fixed order; the attributes below are what REST, WebSocket and
persistence read.
"""

from __future__ import annotations

import random

from emulators.kalshi_sim.accounts import Account, AccountBook, Fill
from emulators.kalshi_sim.book import Book
from emulators.kalshi_sim.catalog import Catalog
from emulators.kalshi_sim.config import SimConfig
from emulators.kalshi_sim.lifecycle import MarketLifecycle
from emulators.kalshi_sim.model import Clock, Event, Happening, Market, Series, Trade

__all__ = ["Exchange"]


class Exchange:
    """All exchange state. Not thread-safe: one event loop owns it."""

    def __init__(self, config: SimConfig) -> None:
        self.clock = Clock(config)
        self.accounts = AccountBook(config.seed)
        self.catalog = Catalog(self.clock)
        self.book = Book(self.clock, self.catalog)
        self.lifecycle = MarketLifecycle(self.clock, self.catalog, self.book, self.accounts)
        self.catalog.build(config.n_markets, self.lifecycle.place)

    # ------------------------------------------------------------------ clock

    @property
    def config(self) -> SimConfig:
        return self.clock.config

    @config.setter
    def config(self, config: SimConfig) -> None:
        self.clock.config = config

    @property
    def rng(self) -> random.Random:
        return self.clock.rng

    @property
    def start_us(self) -> int:
        return self.clock.start_us

    @property
    def now_us(self) -> int:
        return self.clock.now_us

    @property
    def now_ms(self) -> int:
        return self.clock.now_us // 1000

    @property
    def tick_us(self) -> int:
        return self.clock.tick_us

    @tick_us.setter
    def tick_us(self, tick_us: int) -> None:
        self.clock.tick_us = tick_us

    @property
    def tick_count(self) -> int:
        return self.clock.tick_count

    @property
    def version(self) -> int:
        """Bumped on every change to market state; response caches key on it."""
        return self.clock.version

    # ------------------------------------------------------------------ catalog

    @property
    def series(self) -> dict[str, Series]:
        return self.catalog.series

    @property
    def events(self) -> dict[str, Event]:
        return self.catalog.events

    @property
    def event_list(self) -> list[Event]:
        return self.catalog.event_list

    @property
    def markets(self) -> dict[str, Market]:
        return self.catalog.markets

    @property
    def market_list(self) -> list[Market]:
        """Creation order, which is pagination order."""
        return self.catalog.market_list

    def active_markets(self) -> list[Market]:
        return self.catalog.active_markets()

    # ------------------------------------------------------------------ book

    @property
    def trades(self) -> list[Trade]:
        return self.book.trades

    @trades.setter
    def trades(self, trades: list[Trade]) -> None:
        self.book.trades = trades

    @property
    def trades_by_ticker(self) -> dict[str, list[Trade]]:
        return self.book.trades_by_ticker

    @trades_by_ticker.setter
    def trades_by_ticker(self, by_ticker: dict[str, list[Trade]]) -> None:
        self.book.trades_by_ticker = by_ticker

    def account_fill(
        self, account: Account, out: list[Happening], market: Market | None = None
    ) -> Fill | None:
        """Trade once on ``account``'s behalf (a taker order against the book)."""
        return self.book.account_fill(account, out, market)

    # ------------------------------------------------------------------ the clock

    def tick(self, steps: int = 1) -> list[Happening]:
        self.clock.version += 1
        out: list[Happening] = []
        for _ in range(steps):
            self._tick_once(out)
        return out

    def resume(self, until_us: int) -> list[Happening]:
        """Bring a world loaded from disk up to ``until_us``; see :meth:`MarketLifecycle.resume`."""
        return self.lifecycle.resume(until_us)

    def _tick_once(self, out: list[Happening]) -> None:
        clock = self.clock
        rng = clock.rng
        clock.tick_count += 1
        clock.now_us += clock.tick_us
        now = clock.now_us
        self.lifecycle.run_due(now, out)
        self.book.matcher.expire(self.catalog.markets, out)
        active = self.catalog.active_markets()
        if active:
            k = max(1, round(len(active) * clock.config.market_activity))
            walk = self.book.walk
            for market in rng.sample(active, min(k, len(active))):
                walk(market, out, now + rng.randint(0, clock.tick_us // 2))
            if rng.random() < 0.01:
                self.lifecycle.pause(active[rng.randrange(len(active))], out)
        for account in self.accounts.all():
            if account.rng.random() < clock.config.account_fill_rate:
                self.book.account_fill(account, out)
